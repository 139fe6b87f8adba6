"""Importing files other people wrote (issue 11): R's `NA`, whitespace-separated columns, Windows-1252,
UTF-16 from Excel, compressed uploads, header-less files, `#` comments, short rows — each read with the
types and null counts pandas finds in the same file — plus the import options, the preview, `distinct`,
histogram edges and downloads that give back what was uploaded.

Files come from installed packages where one ships them (palmerpenguins' penguins.csv, scikit-learn's
linnerud and diabetes files, plotly's tips.csv.gz); where none does, the test writes a faithful
equivalent and says so.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import math
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import zstandard

from backend.catalog.datasets import profiling, sniffing
from tests.backend.catalog.datasets.conftest import API, create, error_code
from tests.conftest import data_files

SKLEARN_DATA = Path(resources.files("sklearn.datasets") / "data")
PLOTLY_DATA = Path(resources.files("plotly") / "package_data" / "datasets")


def penguins_csv() -> bytes:
    """palmerpenguins' penguins.csv: R's `NA` in 19 cells, numeric columns among them."""
    return (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()


def titanic_csv() -> bytes:
    """A faithful equivalent of seaborn's titanic.csv (seaborn downloads it at run time, so no package
    ships it): the same 15 columns and spellings (`True`/`False`, `22.0`, empty cells for missing), 891
    rows, `deck` A-G with seaborn's counts (C 59, B 47, D 33, E 32, A 15, F 13, G 4) and 688 missing,
    177 missing ages, 2 missing ports."""
    rng = np.random.default_rng(1912)
    n = 891
    decks = ["C"] * 59 + ["B"] * 47 + ["D"] * 33 + ["E"] * 32 + ["A"] * 15 + ["F"] * 13 + ["G"] * 4
    decks = decks + [""] * (n - len(decks))
    rng.shuffle(decks)
    missing_age = set(rng.choice(n, 177, replace=False).tolist())
    missing_port = set(rng.choice(n, 2, replace=False).tolist())
    lines = ["survived,pclass,sex,age,sibsp,parch,fare,embarked,class,who,adult_male,deck,embark_town,alive,alone"]
    ports = {"S": "Southampton", "C": "Cherbourg", "Q": "Queenstown"}
    for i in range(n):
        survived = int(rng.random() < 0.38)
        pclass = int(rng.choice([1, 2, 3], p=[0.24, 0.21, 0.55]))
        sex = "male" if rng.random() < 0.65 else "female"
        age = "" if i in missing_age else f"{float(rng.integers(1, 80))}"
        who = "child" if age and float(age) < 16 else ("man" if sex == "male" else "woman")
        sibsp, parch = int(rng.integers(0, 3)), int(rng.integers(0, 3))
        fare = round(float(rng.gamma(2.0, 16.0)), 4)
        port = "" if i in missing_port else str(rng.choice(["S", "C", "Q"], p=[0.72, 0.19, 0.09]))
        lines.append(",".join([str(survived), str(pclass), sex, age, str(sibsp), str(parch), f"{fare:g}", port,
                               ["First", "Second", "Third"][pclass - 1], who, str(who == "man"), decks[i],
                               ports.get(port, ""), "yes" if survived else "no", str(sibsp + parch == 0)]))
    return ("\n".join(lines) + "\n").encode()


def cp1252_csv() -> bytes:
    """A Windows-exported spreadsheet (no package ships one): `– ’ € “ ”` are single bytes 0x80-0x9F."""
    text = ("product,comment,price\r\n"
            "Kaffee,Bester Kaffee – wirklich,3 €\r\n"
            "Tea,It’s “fine”,2 €\r\n"
            "Café crème,très bon,4 €\r\n")
    return text.encode("cp1252")


def excel_unicode_text() -> bytes:
    """What Excel's "Unicode text" export writes (no package ships one): UTF-16 LE with a BOM, tabs, CRLF."""
    text = "city\tpopulation\tcountry\r\nKöln\t1084831\tDeutschland\r\nZürich\t421878\tSchweiz\r\nSão Paulo\t12325232\tBrasil\r\n"
    return b"\xff\xfe" + text.encode("utf-16-le")


def commented_csv() -> bytes:
    """A file with `#` comment lines above and inside the data, as instruments and R's write.table emit."""
    return (b"# station: Zugspitze\n# exported 2024-05-01 by logger v2\n# units: degC, hPa\n"
            b"time,temperature,pressure\n"
            b"2024-05-01 00:00:00,-7.5,701.2\n# sensor restarted\n2024-05-01 01:00:00,-7.9,700.8\n"
            b"2024-05-01 02:00:00,-8.1,NA\n")


def upload(api, headers, dataset_id, data: bytes, filename: str, options: dict | None = None, message=None):
    form = {}
    if options is not None:
        form["options"] = json.dumps(options)
    if message:
        form["message"] = message
    return api.post(f"{API}/{dataset_id}/upload", files={"file": (filename, data, "application/octet-stream")},
                    data=form or None, headers=headers)


def preview(api, headers, dataset_id, data: bytes, filename: str, options: dict | None = None):
    return api.post(f"{API}/{dataset_id}/preview", files={"file": (filename, data, "application/octet-stream")},
                    data={"options": json.dumps(options)} if options is not None else None, headers=headers)


def fields_of(version: dict) -> dict[str, dict]:
    return {f["name"]: f for f in version["schema"]["fields"]}


def column_stats(api, headers, dataset_id) -> dict[str, dict]:
    return api.get(f"{API}/{dataset_id}/statistics", headers=headers).json()["columnStatistics"]


@pytest.fixture
def owner(api, auth):
    return auth.headers("data_scientist")


# --- missing values ------------------------------------------------------------------------------------


def test_penguins_na_is_missing_numbers_stay_numbers_and_quality_counts_them(api, owner):
    data = penguins_csv()
    expected = pd.read_csv(io.BytesIO(data))  # pandas' default missing values include NA
    dataset_id = create(api, owner, name="Penguins", labelColumn="species")
    response = upload(api, owner, dataset_id, data, "penguins.csv")
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    types = {name: f["type"] for name, f in fields_of(version).items()}
    assert types == {"species": "string", "island": "string", "bill_length_mm": "float", "bill_depth_mm": "float",
                     "flipper_length_mm": "integer", "body_mass_g": "integer", "sex": "string", "year": "integer"}
    assert version["sourceDialect"]["nullValue"] == "NA" and version["importOptions"]["naValues"][:2] == ["", "NA"]
    stats = column_stats(api, owner, dataset_id)
    assert {c: s["nullCount"] for c, s in stats.items()} == expected.isna().sum().to_dict()
    assert stats["sex"]["nullCount"] == 11 and stats["bill_length_mm"]["nullCount"] == 2
    assert {c: s["distinct"] for c, s in stats.items()} == expected.nunique().to_dict()
    assert stats["body_mass_g"]["mean"] == pytest.approx(expected["body_mass_g"].mean())
    quality = api.get(f"{API}/{dataset_id}/quality", headers=owner).json()["quality"]
    cells = expected.size
    assert quality["completeness"] == round(1 - expected.isna().sum().sum() / cells, 6) < 1

    # numbers cast like numbers; a split stratified on `sex` has male/female classes and no "NA" class
    cast = api.post(f"{API}/{dataset_id}/transform", headers=owner, json={
        "steps": [{"op": "cast", "columns": {"flipper_length_mm": "float"}}]})
    assert cast.status_code == 201, cast.text
    split = api.post(f"{API}/{dataset_id}/split", headers=owner,
                     json={"train": 0.7, "validation": 0.15, "test": 0.15, "stratifyBy": "sex", "version": 1})
    assert split.status_code == 200, split.text
    frame = pl.read_parquet(io.BytesIO(api.get(f"{API}/{dataset_id}/download", params={"version": 1},
                                               headers=owner).content))
    assert set(frame["sex"].drop_nulls().unique().to_list()) == {"male", "female"}
    counts = split.json()["splits"]["counts"]
    assert sum(counts.values()) == 344

    # the tokens are a setting: without NA among them the text stays text
    other = create(api, owner, name="Penguins raw")
    raw = upload(api, owner, other, data, "penguins.csv", options={"naValues": [""]})
    assert raw.status_code == 201, raw.text
    assert fields_of(raw.json()["version"])["bill_length_mm"]["type"] == "string"
    assert raw.json()["version"]["importOptions"]["naValues"] == [""]


def test_a_stratified_split_never_makes_a_class_of_a_missing_label(session, principals):
    from backend.catalog.datasets import service

    actor = principals["data_scientist"]
    dataset = service.create_dataset(session=session, actor=actor, data={"name": "s", "type": "tabular"})
    session.commit()
    rows = "label,x\n" + "".join(f"{'NA' if i % 5 == 0 else ('a' if i % 2 else 'b')},{i}\n" for i in range(100))
    service.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(rows.encode()),
                   filename="l.csv")
    session.commit()
    service.split(session=session, actor=actor, dataset_id=dataset.id,
                  request={"train": 0.8, "test": 0.2, "stratifyBy": "label"})
    session.commit()
    parts = service.split_frames(session=session, actor=actor, dataset_id=dataset.id)
    for name in ("train", "test"):
        labels = parts[name].collect()["label"]
        assert "NA" not in labels.to_list() and set(labels.drop_nulls().to_list()) == {"a", "b"}


# --- distinct and histograms ----------------------------------------------------------------------------


def test_titanic_deck_has_seven_distinct_values_and_its_nulls_apart(api, owner):
    data = titanic_csv()
    expected = pd.read_csv(io.BytesIO(data))
    dataset_id = create(api, owner, name="Titanic")
    version = upload(api, owner, dataset_id, data, "titanic.csv").json()["version"]
    assert fields_of(version)["adult_male"]["type"] == "boolean" and fields_of(version)["age"]["type"] == "float"
    profile = api.get(f"{API}/{dataset_id}/profile", headers=owner).json()["profile"]["columns"]
    assert profile["deck"]["distinct"] == 7 and profile["deck"]["nullCount"] == 688
    assert sorted(v["value"] for v in profile["deck"]["topValues"][:7]) == list("ABCDEFG")
    assert {c: p["distinct"] for c, p in profile.items()} == expected.nunique().to_dict()
    assert {c: p["nullCount"] for c, p in profile.items()} == expected.isna().sum().to_dict()
    assert profile["deck"]["distinct"] == pl.read_csv(io.BytesIO(data))["deck"].drop_nulls().n_unique()


def wine_alcohol() -> np.ndarray:
    """Alcohol (% vol) as in the red wine quality data (no package ships it): one decimal, 8.4 to 14.9,
    many wines at exactly 11.0 — on a bin edge of 20 equal bins (8.4 + 8 x 0.325)."""
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(10.4, 1.0, 1500), 1).clip(8.4, 14.9)
    return np.concatenate([values, [8.4, 14.9], np.full(60, 11.0)])


def test_histogram_bins_are_half_open_and_a_value_on_an_edge_falls_in_the_upper_bin(tmp_path):
    values = wine_alcohol()
    path = tmp_path / "wine.parquet"
    pl.DataFrame({"alcohol": values, "quality": np.arange(len(values)) % 6 + 3}).write_parquet(path)
    histogram = profiling.compute_profile(path)["columns"]["alcohol"]["histogram"]
    edges, counts = histogram["edges"], histogram["counts"]
    assert edges[8] == 11.0 and (11.0 - 8.4) / ((14.9 - 8.4) / 20) < 8  # the division alone rounds down
    assert counts == np.histogram(values, bins=edges)[0].tolist()  # numpy, given the same (exact) edges
    assert edges == pytest.approx(np.linspace(8.4, 14.9, 21).tolist(), abs=1e-12)
    assert counts[8] == int(((values >= 11.0) & (values < edges[9])).sum())  # 11.0 in [11.0, 11.325)
    assert edges[4] == 9.7 and counts[4] == int(((values >= 9.7) & (values < edges[5])).sum())
    # numpy's own edges put 9.7 in the bin below (linspace gives 9.700000000000001): exact edges do not
    assert np.linspace(8.4, 14.9, 21)[4] > 9.7
    assert counts[-1] == int((values >= edges[-2]).sum())  # the last bin is closed: 14.9 is in it
    assert sum(counts) == len(values)


def test_histogram_edges_are_exact_decimals():
    edges = profiling.histogram_edges(0.0, 2.0, 20)
    assert edges[3] == 0.3 and edges[7] == 0.7  # not 0.30000000000000004
    assert profiling.histogram_edges(5.0, 5.0) == [5.0, 5.0]


# --- separators, encodings, compression -----------------------------------------------------------------


def test_a_whitespace_separated_file_parses_into_its_columns(api, owner):
    data = (SKLEARN_DATA / "linnerud_exercise.csv").read_bytes()
    expected = pd.read_csv(io.BytesIO(data), sep=r"\s+")
    dataset_id = create(api, owner, name="Linnerud")
    response = upload(api, owner, dataset_id, data, "linnerud_exercise.csv")
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    assert [f["name"] for f in version["schema"]["fields"]] == ["Chins", "Situps", "Jumps"]
    assert {f["type"] for f in version["schema"]["fields"]} == {"integer"} and version["recordCount"] == 20
    assert version["sourceDialect"]["separator"] == "whitespace" and version["sourceDialect"]["separatorGuessed"]
    frame = pl.read_parquet(io.BytesIO(api.get(f"{API}/{dataset_id}/download", headers=owner).content))
    assert frame.to_dict(as_series=False) == expected.to_dict("list")
    # aligned columns (runs of spaces, a leading indent) too
    aligned = b"  id   height  name\n   1   1.82  Ann\n  12   1.75  Bob\n 123   1.90  Carl\n"
    other = create(api, owner, name="Aligned")
    fields = fields_of(upload(api, owner, other, aligned, "aligned.txt").json()["version"])
    assert list(fields) == ["id", "height", "name"] and fields["height"]["type"] == "float"


def test_one_column_from_a_multi_word_header_is_said_not_silently_accepted(api, owner):
    data = b"customer name\nAnn Smith Jr\nBob Jones\nCarl\n"  # words, not columns: the lines do not agree
    dataset_id = create(api, owner, name="Names")
    seen = preview(api, owner, dataset_id, data, "names.csv").json()
    assert [c["name"] for c in seen["columns"]] == ["customer name"]
    assert any("one column" in w for w in seen["warnings"])
    response = upload(api, owner, dataset_id, data, "names.csv")
    assert response.status_code == 201 and any("one column" in w for w in response.json()["warnings"])
    assert any("one column" in w for w in response.json()["version"]["importWarnings"])


def test_windows_1252_text_is_decoded_as_windows_1252_and_recorded(api, owner):
    data = cp1252_csv()
    dataset_id = create(api, owner, name="Prices")
    response = upload(api, owner, dataset_id, data, "prices.csv")
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    assert version["sourceEncoding"] == "cp1252" and version["sourceDialect"]["encodingGuessed"]
    assert any("Windows-1252" in w for w in response.json()["warnings"])
    frame = pl.read_parquet(io.BytesIO(api.get(f"{API}/{dataset_id}/download", headers=owner).content))
    assert frame["comment"].to_list() == ["Bester Kaffee – wirklich", "It’s “fine”", "très bon"]
    assert frame["price"].to_list() == ["3 €", "2 €", "4 €"] and frame["product"][2] == "Café crème"
    assert api.get(f"{API}/{dataset_id}/quality", headers=owner).json()["quality"]["validity"] == 1.0
    # the encoding is an option: Latin-1 turns the same bytes into control characters
    latin = create(api, owner, name="Prices as Latin-1")
    wrong = upload(api, owner, latin, data, "prices.csv", options={"encoding": "latin-1"}).json()["version"]
    assert wrong["sourceEncoding"] == "iso8859-1" and not wrong["sourceDialect"]["encodingGuessed"]


def test_central_european_text_keeps_its_code_page(tmp_path):
    """Windows-1252 is preferred only where it reads the text as well: Polish keeps Windows-1250 (with a
    few lines of text; a handful of words is too little for any detector, and the preview says so)."""
    rows = ["Łódź,łódzkie,Zażółć gęślą jaźń", "Kraków,małopolskie,Świętokrzyskie góry",
            "Gdańsk,pomorskie,Wybrzeże Bałtyku", "Wrocław,dolnośląskie,Rynek i ratusz",
            "Poznań,wielkopolskie,Koziołki na wieży", "Białystok,podlaskie,Puszcza Białowieska"]
    data = ("miasto,województwo,opis\n" + "\n".join(rows * 4) + "\n").encode("cp1250")
    path = tmp_path / "pl.csv"
    path.write_bytes(data)
    assert sniffing.detect_encoding(path, data, utf8_valid=False, requested=None).name == "cp1250"


def test_utf16_with_a_bom_from_excel_reads(api, owner):
    dataset_id = create(api, owner, name="Cities")
    response = upload(api, owner, dataset_id, excel_unicode_text(), "cities.txt")
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    assert version["sourceEncoding"] == "utf-16" and version["sourceDialect"]["separator"] == "\t"
    assert fields_of(version)["population"]["type"] == "integer"
    frame = pl.read_parquet(io.BytesIO(api.get(f"{API}/{dataset_id}/download", headers=owner).content))
    assert frame["city"].to_list() == ["Köln", "Zürich", "São Paulo"]


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_gzip_bzip2_zstd_and_one_file_zip_uploads_are_unpacked(api, owner):
    packed = (PLOTLY_DATA / "tips.csv.gz").read_bytes()
    plain = gzip.decompress(packed)
    expected = pd.read_csv(io.BytesIO(plain))
    blobs = set()
    for name, data, compression in [("tips.csv.gz", packed, "gzip"), ("tips.csv.bz2", bz2.compress(plain), "bzip2"),
                                    ("tips.csv.zst", zstandard.ZstdCompressor().compress(plain), "zstd"),
                                    ("tips.zip", _zip("tips.csv", plain), "zip")]:
        dataset_id = create(api, owner, name=name)
        response = upload(api, owner, dataset_id, data, name)
        assert response.status_code == 201, (name, response.text)
        version = response.json()["version"]
        assert version["sourceCompression"] == compression and version["sourceFormat"] == "csv"
        assert version["recordCount"] == len(expected) and version["columnCount"] == 7
        blobs.add(version["sha256"])
        original = api.get(f"{API}/{dataset_id}/download", params={"format": "original"}, headers=owner)
        assert original.content == data and original.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    assert len(blobs) == 1  # the same table whatever the packing


def test_a_header_less_gzip_file_gets_numbered_columns(api, owner):
    data = (SKLEARN_DATA / "diabetes_data_raw.csv.gz").read_bytes()  # space-separated, no header
    expected = np.loadtxt(io.BytesIO(gzip.decompress(data)))
    dataset_id = create(api, owner, name="Diabetes")
    response = upload(api, owner, dataset_id, data, "diabetes_data_raw.csv.gz")
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    assert [f["name"] for f in version["schema"]["fields"]] == [f"column_{i}" for i in range(1, 11)]
    assert version["recordCount"] == expected.shape[0] == 442 and not version["sourceDialect"]["header"]
    assert any("only numbers" in w for w in response.json()["warnings"])
    frame = pl.read_parquet(io.BytesIO(api.get(f"{API}/{dataset_id}/download", headers=owner).content))
    assert np.allclose(frame.to_numpy().astype(float), expected)
    # header: false said outright, on a file whose first row is text
    other = create(api, owner, name="Tips without header")
    tips = gzip.decompress((PLOTLY_DATA / "tips.csv.gz").read_bytes())
    version = upload(api, owner, other, tips, "tips.csv", options={"header": False, "shortRows": "refuse"})
    assert version.json()["version"]["recordCount"] == 245  # the names row is data now


def test_compressed_and_binary_files_that_are_not_data_say_what_they_are(api, owner):
    dataset_id = create(api, owner, name="Refusals")
    before = data_files()
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "x\n1\n")
        archive.writestr("b.csv", "x\n2\n")
    cases = [(workbook.getvalue(), "book.xlsx", "Excel workbook"), (b"%PDF-1.7\n%\xe2\xe3\x00", "a.csv", "PDF"),
             (b"SQLite format 3\x00" + b"\x00" * 100, "db.csv", "SQLite"),
             (two.getvalue(), "two.zip", "has 2 files"),
             (gzip.compress(b"0" * 30_000_000), "zeros.csv.gz", "decompression bomb"),
             (gzip.compress(b"a,b\n1,2\n")[:-12], "cut.csv.gz", "could not be unpacked"),
             (gzip.compress(gzip.compress(b"a\n1\n")), "twice.csv.gz", "compressed twice")]
    for data, name, words in cases:
        response = upload(api, owner, dataset_id, data, name)
        assert response.status_code == 422 and error_code(response) == "DATA_002", (name, response.text)
        assert words in response.json()["error"]["message"], (name, response.json())
    assert data_files() == before
    assert api.get(f"{API}/{dataset_id}", headers=owner).json()["version"] is None


# --- import options -----------------------------------------------------------------------------------


def test_comment_lines_are_skipped_when_detected_or_asked(api, owner):
    data = commented_csv()
    dataset_id = create(api, owner, name="Weather")
    response = upload(api, owner, dataset_id, data, "weather.csv")
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    assert version["recordCount"] == 3 and version["sourceDialect"]["commentGuessed"]
    fields = fields_of(version)
    assert fields["time"]["type"] == "datetime" and fields["pressure"]["type"] == "float"
    assert fields["pressure"]["nullable"] and any("comments" in w for w in response.json()["warnings"])
    asked = create(api, owner, name="Weather, asked")
    version = upload(api, owner, asked, data, "weather.csv", options={"commentChar": "#"}).json()["version"]
    assert version["recordCount"] == 3 and not version["sourceDialect"]["commentGuessed"]
    # "" says the file has no comment lines: the first '#' line is then read as the header
    none = create(api, owner, name="Weather, no comments")
    refused = upload(api, owner, none, data, "weather.csv", options={"commentChar": ""})
    assert refused.status_code == 422 and error_code(refused) == "DATA_002"


def test_skip_rows_header_row_multi_row_headers_separator_and_tokens(api, owner):
    dataset_id = create(api, owner, name="Options")

    def fields(data: bytes, **options) -> tuple[dict, list]:
        response = upload(api, owner, dataset_id, data, "x.csv", options=options)
        assert response.status_code in (200, 201), (options, response.text)
        version = response.json()["version"]
        frame = pl.read_parquet(io.BytesIO(api.get(f"{API}/{dataset_id}/download", headers=owner,
                                                   params={"version": version["version"]}).content))
        return fields_of(version), frame.rows()

    report = b"Quarterly report\nGenerated 2024-05-01\n\nregion;sales\nNorth;10,5\nSouth;7\n"
    names, rows = fields(report, skipRows=2, separator=";")
    assert list(names) == ["region", "sales"] and rows == [("North", "10,5"), ("South", "7")]
    names, rows = fields(report, headerRow=3, separator=";")  # the rows above the header are skipped
    assert list(names) == ["region", "sales"] and len(rows) == 2
    two_rows = b"Sales,,Cost,\nQ1,Q2,Q1,Q2\n1,2,3,4\n5,6,7,8\n"
    names, rows = fields(two_rows, headerRows=2)
    assert list(names) == ["Sales Q1", "Sales Q2", "Cost Q1", "Cost Q2"] and rows == [(1, 2, 3, 4), (5, 6, 7, 8)]
    question = b"id,score\n1,3.5\n2,?\n3,4.0\n"
    names, rows = fields(question, naValues=["", "NA", "?"])
    assert names["score"]["type"] == "float" and rows[1] == (2, None)
    pipes = b"a|b\n1|x y\n2|z\n"
    names, rows = fields(pipes, separator="|")
    assert rows == [(1, "x y"), (2, "z")]


def test_short_rows_are_refused_naming_the_line_or_padded_with_nulls(api, owner):
    data = b"id,name,email\n1,Ann,ann@example.com\n2,Bob\n3,Carl,carl@example.com\n"
    dataset_id = create(api, owner, name="Short")
    refused = upload(api, owner, dataset_id, data, "short.csv")
    assert refused.status_code == 422 and error_code(refused) == "DATA_002"
    assert "line 3" in refused.json()["error"]["message"] and "pad" in refused.json()["error"]["message"]
    assert refused.json()["error"]["details"]["line"] == 3
    padded = upload(api, owner, dataset_id, data, "short.csv", options={"shortRows": "pad"})
    assert padded.status_code == 201, padded.text
    frame = pl.read_parquet(io.BytesIO(api.get(f"{API}/{dataset_id}/download", headers=owner).content))
    assert frame.rows()[1] == (2, "Bob", None)
    empty_fields = b"id,name,email\n1,Ann,\n2,Bob,\n"  # present but empty: not short
    other = create(api, owner, name="Empty")
    assert upload(api, owner, other, empty_fields, "e.csv").status_code == 201
    quoted = b'id,note,n\n1,"a\nb",2\n2,"c,d"\n'  # a quoted newline and comma do not fool the count
    third = create(api, owner, name="Quoted")
    response = upload(api, owner, third, quoted, "q.csv")
    assert response.status_code == 422 and response.json()["error"]["details"]["line"] == 4


@pytest.mark.parametrize("options,field", [
    ({"separator": "ab"}, "options.separator"), ({"separator": "x"}, "options.separator"),
    ({"commentChar": "##"}, "options.commentChar"), ({"encoding": "rot13"}, "options.encoding"),
    ({"encoding": "klingon"}, "options.encoding"), ({"headerRow": 0}, "options.headerRow"),
    ({"shortRows": "truncate"}, "options.shortRows"), ({"delimiter": ";"}, "options.delimiter"),
    ({"naValues": "NA"}, "options.naValues"), ({"skipRows": -1}, "options.skipRows"),
])
def test_bad_options_are_refused_naming_the_field(api, owner, options, field):
    dataset_id = create(api, owner, name="Bad options")
    before = data_files()
    for route in ("upload", "preview"):
        response = api.post(f"{API}/{dataset_id}/{route}", headers=owner, data={"options": json.dumps(options)},
                            files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})
        assert response.status_code == 422 and error_code(response) == "REQ_001", response.text
        assert field in [f["field"] for f in response.json()["error"]["details"]["fields"]], response.json()
    not_json = api.post(f"{API}/{dataset_id}/upload", headers=owner, data={"options": "{separator: ;}"},
                        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})
    assert error_code(not_json) == "REQ_001" and not_json.json()["error"]["details"]["fields"][0]["field"] == "options"
    assert data_files() == before


def test_the_same_bytes_with_other_options_make_a_new_version(api, owner):
    data = b"a;b\n1;2\n"
    dataset_id = create(api, owner, name="Twice")
    first = upload(api, owner, dataset_id, data, "x.csv", options={"separator": ","})
    assert first.json()["version"]["columnCount"] == 1
    second = upload(api, owner, dataset_id, data, "x.csv", options={"separator": ";"})
    assert second.status_code == 201 and second.json()["version"]["columnCount"] == 2
    again = upload(api, owner, dataset_id, data, "x.csv", options={"separator": ";"})
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["version"]["version"] == 2


# --- preview ------------------------------------------------------------------------------------------


def test_preview_shows_what_was_found_and_the_first_rows_and_stores_nothing(api, owner):
    dataset_id = create(api, owner, name="Preview")
    before = data_files()
    response = preview(api, owner, dataset_id, penguins_csv(), "penguins.csv")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "csv" and body["encoding"] == "utf-8" and body["compression"] is None
    assert body["dialect"]["separator"] == "," and body["dialect"]["separatorGuessed"]
    assert body["options"]["naValues"] == ["", "NA", "N/A", "NaN", "null", "None"]
    assert body["missingValues"] == {"NA": 19} and body["sampleRows"] == 344 and body["complete"]
    assert len(body["rows"]) == 20 and body["rows"][3][2] is None and body["rows"][0][2] == 39.1
    columns = {c["name"]: c for c in body["columns"]}
    assert columns["body_mass_g"]["type"] == "integer" and columns["sex"]["nullCount"] == 11
    assert body["problem"] is None
    # with other options: '?' offered as a token, a wrong separator shows as a problem, not a failure
    asked = preview(api, owner, dataset_id, b"a,b\n1,?\n2,3\n", "q.csv", {"naValues": ["?"]}).json()
    assert asked["columns"][1]["type"] == "integer" and asked["rows"][0] == [1, None]
    ragged = preview(api, owner, dataset_id, b"a;b\n1;2\n3;4;5\n", "r.csv", {"separator": ";"}).json()
    assert ragged["problem"] and "line 3" in ragged["problem"]
    gz = preview(api, owner, dataset_id, (PLOTLY_DATA / "tips.csv.gz").read_bytes(), "tips.csv.gz").json()
    assert gz["compression"] == "gzip" and len(gz["rows"]) == 20
    assert data_files() == before
    assert api.get(f"{API}/{dataset_id}", headers=owner).json()["version"] is None


def test_preview_needs_write_access_a_tabular_dataset_and_a_file(api, owner, auth):
    dataset_id = create(api, owner, name="Private")
    reader = auth.headers("business_user")
    denied = preview(api, reader, dataset_id, b"a\n1\n", "x.csv")
    assert denied.status_code in (403, 404) and error_code(denied) in ("AUTH_002", "DATA_001")
    missing = preview(api, owner, "dataset_00000000000000000000", b"a\n1\n", "x.csv")
    assert missing.status_code == 404 and error_code(missing) == "DATA_001"
    images = create(api, owner, name="Images", type="image")
    assert error_code(preview(api, owner, images, b"a\n1\n", "x.csv")) == "DATA_002"
    no_file = api.post(f"{API}/{dataset_id}/preview", headers=owner, data={"options": "{}"},
                       files={"other": ("x.csv", b"a\n1\n")})
    assert no_file.status_code == 422 and error_code(no_file) == "REQ_001"
    not_multipart = api.post(f"{API}/{dataset_id}/preview", headers=owner, json={"file": "a\n1\n"})
    assert error_code(not_multipart) == "REQ_001"


# --- downloads ----------------------------------------------------------------------------------------


def test_downloads_give_back_the_uploaded_bytes_and_derived_versions_keep_the_formats(api, owner):
    data = (b"id,flag,seen,day,score,note\n"
            b"1,True,2019-03-23 20:21:09,2019-03-23,18,NA\n"
            b"2,False,2019-03-24 07:00:00,2019-03-24,17.5,ok\n"
            b"3,True,2019-03-25 12:30:45,2019-03-25,NA,fine\n")
    dataset_id = create(api, owner, name="Formats")
    version = upload(api, owner, dataset_id, data, "formats.csv").json()["version"]
    types = {n: f["type"] for n, f in fields_of(version).items()}
    assert types == {"id": "integer", "flag": "boolean", "seen": "datetime", "day": "date", "score": "float",
                     "note": "string"}
    for fmt in ("csv", "original"):
        response = api.get(f"{API}/{dataset_id}/download", params={"format": fmt}, headers=owner)
        assert response.content == data and response.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    transformed = api.post(f"{API}/{dataset_id}/transform", headers=owner,
                           json={"steps": [{"op": "filter", "expression": "id >= 2"}]})
    assert transformed.status_code == 201, transformed.text
    derived = api.get(f"{API}/{dataset_id}/download", params={"format": "csv"}, headers=owner).content.decode()
    assert derived == ("id,flag,seen,day,score,note\n2,False,2019-03-24 07:00:00,2019-03-24,17.5,ok\n"
                       "3,True,2019-03-25 12:30:45,2019-03-25,NA,fine\n")
    assert "true" not in derived and "T07:00" not in derived
    assert error_code(api.get(f"{API}/{dataset_id}/download", params={"format": "original"}, headers=owner)) \
        == "DATA_004"
    restored = api.post(f"{API}/{dataset_id}/versions", headers=owner, json={"fromVersion": 1})
    assert restored.status_code == 201
    again = api.get(f"{API}/{dataset_id}/download", params={"format": "csv", "version": 3}, headers=owner)
    assert again.content == data
    cast = api.post(f"{API}/{dataset_id}/transform", headers=owner, json={
        "version": 1, "steps": [{"op": "cast", "columns": {"flag": "string"}}]})
    assert cast.status_code == 201
    written = api.get(f"{API}/{dataset_id}/download", params={"format": "csv"}, headers=owner).content.decode()
    assert "2019-03-23 20:21:09" in written.splitlines()[1] and ",18," in written.splitlines()[1]


def test_penguins_download_as_csv_is_the_file_itself_and_an_export_reads_back_equal(api, owner):
    data = penguins_csv()
    dataset_id = create(api, owner, name="Penguins again")
    upload(api, owner, dataset_id, data, "penguins.csv")
    assert api.get(f"{API}/{dataset_id}/download", params={"format": "csv"}, headers=owner).content == data
    api.post(f"{API}/{dataset_id}/transform", headers=owner, json={"steps": [{"op": "sort", "by": ["year"]}]})
    exported = api.get(f"{API}/{dataset_id}/download", params={"format": "csv"}, headers=owner).content
    assert b",NA," in exported and b",18," in exported  # the file's NA, and 18 not 18.0
    again = pd.read_csv(io.BytesIO(exported)).sort_values(["year", "species", "island"]).reset_index(drop=True)
    source = pd.read_csv(io.BytesIO(data)).sort_values(["year", "species", "island"]).reset_index(drop=True)
    assert again.isna().sum().to_dict() == source.isna().sum().to_dict()
    assert math.isclose(again["bill_length_mm"].sum(), source["bill_length_mm"].sum())
