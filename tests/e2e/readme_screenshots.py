"""Take the README's screenshots afresh from the production build with the demo data (`make screenshots`).

Starts a server on a new data dir (migrate, seed, `reflex run --env prod`), signs in as the demo ML
engineer and saves, at 1440 × 900:
- assets/screenshot-marketplace.png: the marketplace's front page
- assets/screenshot-model.png: Customer Sentiment Analyzer's metrics across versions
- assets/screenshot-dataset.png: Customer Feedback's column profile, its product column chosen

`--out DIR` writes them elsewhere (to look at them before they replace the README's). Not a test: the
browser tests cover these pages' flows; this only refreshes pictures of them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS, sign_in
from tests.e2e.server import ROOT, free_port, run_cli, serve, server_env

SIZE = {"width": 1440, "height": 900}


def _open_from_list(page: Page, list_route: str, kind: str, name: str, tab: str) -> None:
    """Open an entity from its list page, as a user would, then one of its tabs."""
    page.goto(list_route)
    expect(page.locator(f"#{kind}s-table")).to_be_visible()
    search = page.locator(f"#{kind}s-search")
    if search.count():  # the models list holds hundreds: find it as a user would
        search.fill(name)
        page.locator(f"#{kind}s-search-submit").click()
    page.locator(f"#{kind}s-table .{kind}-link", has_text=name).first.click()
    page.locator(f"#tab-{tab}").click()
    expect(page).to_have_url(re.compile(rf"tab={tab}"))
    page.wait_for_load_state("networkidle")


def take(page: Page, out: Path) -> list[Path]:
    shots = []

    def save(name: str) -> None:
        page.wait_for_timeout(800)  # charts finish drawing after the data arrives
        path = out / f"screenshot-{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    page.goto("/marketplace")
    expect(page.get_by_role("heading", name="Featured")).to_be_visible()
    save("marketplace")
    _open_from_list(page, "/catalog/models", "model", "Customer Sentiment Analyzer", "metrics")
    save("model")
    _open_from_list(page, "/catalog/datasets", "dataset", "Customer Feedback", "profile")
    page.locator("#profile-table [data-column=product] .profile-column").click()
    save("dataset")
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="aisystem-screenshots-"))
    try:
        env = server_env(free_port(), data_dir)
        run_cli(env, "migrate")
        run_cli(env, "seed")
        with serve(env, "--single-port") as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=server.base_url, viewport=SIZE)
            context.set_default_timeout(UI_TIMEOUT_MS)
            page = context.new_page()
            sign_in(page, "ml_engineer")
            try:
                for path in take(page, args.out):
                    print(path)
            except Exception:
                # Beside the data dir, not in the README's assets: what the page showed when a step failed.
                failed = Path(tempfile.gettempdir()) / "readme-screenshots-failed.png"
                page.screenshot(path=str(failed))
                print(f"the page when it failed: {failed}")
                raise
            browser.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
