"""marketplace: providers, categories, listings (licences, tiers, tags), reviews, subscriptions with
billing records, one-time purchases, usage counters and favourites.

No foreign key points at the catalog's tables (0002, 0003): a listing keeps `source_model_id` as a plain
indexed string.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "marketplace_category",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("icon", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_category")),
        sa.UniqueConstraint("slug", name=op.f("uq_marketplace_category_slug")),
    )
    op.create_table(
        "marketplace_provider",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("website", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_provider")),
        sa.UniqueConstraint("slug", name=op.f("uq_marketplace_provider_slug")),
    )
    op.create_table(
        "marketplace_listing",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("category_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("release_date", sa.Date(), nullable=False),
        sa.Column("last_updated", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("specifications", sa.JSON(), nullable=False),
        sa.Column("parameter_count", sa.BigInteger(), nullable=True),
        sa.Column("context_length", sa.Integer(), nullable=True),
        sa.Column("pricing_model", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("billing", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("one_time_price_cents", sa.BigInteger(), nullable=True),
        sa.Column("support", sa.JSON(), nullable=False),
        sa.Column("source_model_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("featured_rank", sa.Integer(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["marketplace_category.id"],
            name=op.f("fk_marketplace_listing_category_id_marketplace_category"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["marketplace_provider.id"],
            name=op.f("fk_marketplace_listing_provider_id_marketplace_provider"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_listing")),
        sa.UniqueConstraint("slug", name=op.f("uq_marketplace_listing_slug")),
    )
    with op.batch_alter_table("marketplace_listing", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketplace_listing_category_id"), ["category_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_marketplace_listing_featured_rank"), ["featured_rank"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_marketplace_listing_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_marketplace_listing_source_model_id"), ["source_model_id"], unique=False
        )
        batch_op.create_index(
            "uq_marketplace_listing_source_model_live",
            ["source_model_id"],
            unique=True,
            sqlite_where=sa.text("removed_at IS NULL"),
            postgresql_where=sa.text("removed_at IS NULL"),
        )

    op.create_table(
        "marketplace_favorite",
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listing.id"],
            name=op.f("fk_marketplace_favorite_listing_id_marketplace_listing"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_user.id"], name=op.f("fk_marketplace_favorite_user_id_auth_user")
        ),
        sa.PrimaryKeyConstraint("user_id", "listing_id", name=op.f("pk_marketplace_favorite")),
    )
    with op.batch_alter_table("marketplace_favorite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketplace_favorite_listing_id"), ["listing_id"], unique=False)

    op.create_table(
        "marketplace_license",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("restrictions", sa.JSON(), nullable=False),
        sa.Column("commercial_use", sa.Boolean(), nullable=False),
        sa.Column("modification_allowed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listing.id"],
            name=op.f("fk_marketplace_license_listing_id_marketplace_listing"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_license")),
    )
    with op.batch_alter_table("marketplace_license", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketplace_license_listing_id"), ["listing_id"], unique=False)

    op.create_table(
        "marketplace_listing_tag",
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listing.id"],
            name=op.f("fk_marketplace_listing_tag_listing_id_marketplace_listing"),
        ),
        sa.PrimaryKeyConstraint("listing_id", "tag", name=op.f("pk_marketplace_listing_tag")),
    )
    with op.batch_alter_table("marketplace_listing_tag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketplace_listing_tag_tag"), ["tag"], unique=False)

    op.create_table(
        "marketplace_pricing_tier",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=True),
        sa.Column("requests", sa.BigInteger(), nullable=True),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listing.id"],
            name=op.f("fk_marketplace_pricing_tier_listing_id_marketplace_listing"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_pricing_tier")),
        sa.UniqueConstraint("listing_id", "name", name="uq_marketplace_pricing_tier_listing_name"),
    )
    with op.batch_alter_table("marketplace_pricing_tier", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_pricing_tier_listing_id"), ["listing_id"], unique=False
        )

    op.create_table(
        "marketplace_purchase",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("license_type", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listing.id"],
            name=op.f("fk_marketplace_purchase_listing_id_marketplace_listing"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_user.id"], name=op.f("fk_marketplace_purchase_user_id_auth_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_purchase")),
        sa.UniqueConstraint("listing_id", "user_id", name="uq_marketplace_purchase_listing_user"),
    )
    with op.batch_alter_table("marketplace_purchase", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketplace_purchase_listing_id"), ["listing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_marketplace_purchase_user_id"), ["user_id"], unique=False)

    op.create_table(
        "marketplace_review",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("author_name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("overall", sa.Integer(), nullable=False),
        sa.Column("performance", sa.Integer(), nullable=True),
        sa.Column("accuracy", sa.Integer(), nullable=True),
        sa.Column("ease_of_use", sa.Integer(), nullable=True),
        sa.Column("support", sa.Integer(), nullable=True),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("verified_use", sa.Boolean(), nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listing.id"],
            name=op.f("fk_marketplace_review_listing_id_marketplace_listing"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_user.id"], name=op.f("fk_marketplace_review_user_id_auth_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_review")),
        sa.UniqueConstraint("listing_id", "user_id", name="uq_marketplace_review_listing_user"),
    )
    with op.batch_alter_table("marketplace_review", schema=None) as batch_op:
        batch_op.create_index(
            "ix_marketplace_review_listing_created", ["listing_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_marketplace_review_user_id"), ["user_id"], unique=False)

    op.create_table(
        "marketplace_subscription",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("tier_name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("requests_quota", sa.BigInteger(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("billing", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("period_anchor", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("ends_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listing.id"],
            name=op.f("fk_marketplace_subscription_listing_id_marketplace_listing"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_user.id"], name=op.f("fk_marketplace_subscription_user_id_auth_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_subscription")),
    )
    with op.batch_alter_table("marketplace_subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_subscription_listing_id"), ["listing_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_marketplace_subscription_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_marketplace_subscription_live",
            ["listing_id", "user_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "marketplace_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("consumer", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("subscription_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("latency_ms_total", sa.Float(), nullable=False),
        sa.Column("latency_samples", sa.BigInteger(), nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["marketplace_listing.id"],
            name=op.f("fk_marketplace_usage_listing_id_marketplace_listing"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_usage")),
        sa.UniqueConstraint(
            "listing_id",
            "consumer",
            "day",
            "subscription_id",
            "period_index",
            name="uq_marketplace_usage_key",
        ),
    )
    with op.batch_alter_table("marketplace_usage", schema=None) as batch_op:
        batch_op.create_index("ix_marketplace_usage_listing_day", ["listing_id", "day"], unique=False)
        batch_op.create_index(
            "ix_marketplace_usage_subscription_period", ["subscription_id", "period_index"], unique=False
        )

    op.create_table(
        "marketplace_billing_record",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subscription_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.Column("period_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("period_end", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("tier_name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("requests_quota", sa.BigInteger(), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["marketplace_subscription.id"],
            name=op.f("fk_marketplace_billing_record_subscription_id_marketplace_subscription"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_user.id"], name=op.f("fk_marketplace_billing_record_user_id_auth_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_billing_record")),
    )
    with op.batch_alter_table("marketplace_billing_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketplace_billing_record_subscription_id"), ["subscription_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_marketplace_billing_record_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_marketplace_billing_record_period",
            ["subscription_id", "period_index"],
            unique=True,
            sqlite_where=sa.text("kind = 'period'"),
            postgresql_where=sa.text("kind = 'period'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("marketplace_billing_record", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_marketplace_billing_record_period",
            sqlite_where=sa.text("kind = 'period'"),
            postgresql_where=sa.text("kind = 'period'"),
        )
        batch_op.drop_index(batch_op.f("ix_marketplace_billing_record_user_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_billing_record_subscription_id"))

    op.drop_table("marketplace_billing_record")
    with op.batch_alter_table("marketplace_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_marketplace_usage_subscription_period")
        batch_op.drop_index("ix_marketplace_usage_listing_day")

    op.drop_table("marketplace_usage")
    with op.batch_alter_table("marketplace_subscription", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_marketplace_subscription_live",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_marketplace_subscription_user_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_subscription_listing_id"))

    op.drop_table("marketplace_subscription")
    with op.batch_alter_table("marketplace_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_review_user_id"))
        batch_op.drop_index("ix_marketplace_review_listing_created")

    op.drop_table("marketplace_review")
    with op.batch_alter_table("marketplace_purchase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_purchase_user_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_purchase_listing_id"))

    op.drop_table("marketplace_purchase")
    with op.batch_alter_table("marketplace_pricing_tier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_pricing_tier_listing_id"))

    op.drop_table("marketplace_pricing_tier")
    with op.batch_alter_table("marketplace_listing_tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_listing_tag_tag"))

    op.drop_table("marketplace_listing_tag")
    with op.batch_alter_table("marketplace_license", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_license_listing_id"))

    op.drop_table("marketplace_license")
    with op.batch_alter_table("marketplace_favorite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_favorite_listing_id"))

    op.drop_table("marketplace_favorite")
    with op.batch_alter_table("marketplace_listing", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_marketplace_listing_source_model_live",
            sqlite_where=sa.text("removed_at IS NULL"),
            postgresql_where=sa.text("removed_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_marketplace_listing_source_model_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_listing_provider_id"))
        batch_op.drop_index(batch_op.f("ix_marketplace_listing_featured_rank"))
        batch_op.drop_index(batch_op.f("ix_marketplace_listing_category_id"))

    op.drop_table("marketplace_listing")
    op.drop_table("marketplace_provider")
    op.drop_table("marketplace_category")
