"""Write the real survey files of tests/data/real/ from the R packages that ship them.

    python tests/data/real/make_real.py        # from the repository root; needs R with
                                               # survey, carData and jsonlite; ~5 s

* ``nhanes.sav`` — NHANES 2009-2010, high cholesterol (R ``survey::nhanes``), as an SPSS
  file: a missing cholesterol result becomes the user-missing code 9, as SPSS files
  deliver it; ``row_id`` (R's row number) is added as the respondent id.
* ``ces11.dta`` — the 2011 Canadian National Election Study extract (R
  ``carData::CES11``), as a Stata file: each factor becomes integer codes with value
  labels (provinces by their Statistics Canada codes, answers in questionnaire order).

R hands the data over as JSON with 17 significant digits (``digits = I(17)``), so the
files hold R's numbers exactly. Then run ``Rscript tests/data/real/make_real.R`` for the
R ``survey`` figures (``figures.json``). See README.md for the sources and licences.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyreadstat

HERE = Path(__file__).resolve().parent

_EXPORT = """
out <- commandArgs(trailingOnly = TRUE)[1]
data(nhanes, package = "survey")
data(CES11, package = "carData")
both <- list(nhanes = nhanes, ces11 = CES11)
writeLines(jsonlite::toJSON(both, dataframe = "columns", digits = I(17), factor = "string",
                            na = "null"), out)
"""

NHANES_LABELS = {
    "row_id": "Row of survey::nhanes (added as the respondent id)",
    "SDMVPSU": "Masked variance pseudo-PSU",
    "SDMVSTRA": "Masked variance pseudo-stratum",
    "WTMEC2YR": "Full sample 2 year MEC exam weight",
    "HI_CHOL": "Total cholesterol 240 mg/dl or more",
    "race": "Race and Hispanic origin",
    "agecat": "Age group (years)",
    "RIAGENDR": "Gender",
}
NHANES_VALUES = {
    "HI_CHOL": {0: "Under 240 mg/dl", 1: "240 mg/dl or more", 9: "No cholesterol result"},
    "race": {1: "Hispanic", 2: "Non-Hispanic white", 3: "Non-Hispanic black", 4: "Other"},
    "agecat": {1: "(0,19]", 2: "(19,39]", 3: "(39,59]", 4: "(59,Inf]"},
    "RIAGENDR": {1: "Male", 2: "Female"},
}
#: HI_CHOL's missing results: the user-missing code they are written as.
NO_RESULT = 9

CES11_LABELS = {
    "id": "Household ID number",
    "province": "Province",
    "population": "Population of the province aged 18 and over",
    "weight": "Weight to the population (province, household size)",
    "gender": "Gender",
    "abortion": "Should abortion be banned?",
    "importance": "In your life, would you say that religion is ...",
    "education": "Education",
    "urban": "Place of residence",
}
#: R level -> (code, label); provinces by their Statistics Canada (SGC) codes.
CES11_CODES: dict[str, dict[str, tuple[int, str]]] = {
    "province": {
        "NL": (10, "Newfoundland and Labrador"),
        "PE": (11, "Prince Edward Island"),
        "NS": (12, "Nova Scotia"),
        "NB": (13, "New Brunswick"),
        "QC": (24, "Quebec"),
        "ON": (35, "Ontario"),
        "MB": (46, "Manitoba"),
        "SK": (47, "Saskatchewan"),
        "AB": (48, "Alberta"),
        "BC": (59, "British Columbia"),
    },
    "gender": {"Female": (1, "Female"), "Male": (2, "Male")},
    "abortion": {"Yes": (1, "Yes"), "No": (2, "No")},
    "importance": {
        "very": (1, "Very important"),
        "somewhat": (2, "Somewhat important"),
        "notvery": (3, "Not very important"),
        "not": (4, "Not important at all"),
    },
    "education": {
        "lessHS": (1, "Less than high-school graduate"),
        "HS": (2, "High-school graduate"),
        "somePS": (3, "Some post-secondary"),
        "college": (4, "Community college or technical school"),
        "bachelors": (5, "Bachelors degree"),
        "higher": (6, "Graduate degree"),
    },
    "urban": {"urban": (1, "Urban"), "rural": (2, "Rural")},
}


def _from_r() -> dict[str, dict[str, list[object]]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "data.json"
        subprocess.run(["Rscript", "-e", _EXPORT, str(out)], check=True)
        return json.loads(out.read_text(encoding="utf-8"))


def write_nhanes(columns: dict[str, list[object]], path: Path) -> None:
    """survey::nhanes as SPSS: agecat coded 1-4, missing HI_CHOL as user-missing 9."""
    frame = pd.DataFrame(columns)
    agecat = {label: code for code, label in NHANES_VALUES["agecat"].items()}
    frame["agecat"] = frame["agecat"].map(agecat)
    frame["HI_CHOL"] = frame["HI_CHOL"].fillna(NO_RESULT)
    frame.insert(0, "row_id", range(1, len(frame) + 1))
    for col in frame.columns:
        if col != "WTMEC2YR":
            frame[col] = frame[col].astype("int64")
    pyreadstat.write_sav(
        frame,
        str(path),
        file_label="NHANES 2009-2010 high cholesterol extract (R survey::nhanes)",
        column_labels=NHANES_LABELS,
        variable_value_labels=NHANES_VALUES,
        missing_ranges={"HI_CHOL": [NO_RESULT]},
        variable_measure={
            "row_id": "nominal",
            "SDMVPSU": "nominal",
            "SDMVSTRA": "nominal",
            "WTMEC2YR": "scale",
            "HI_CHOL": "nominal",
            "race": "nominal",
            "agecat": "ordinal",
            "RIAGENDR": "nominal",
        },
        row_compress=True,
    )


def write_ces11(columns: dict[str, list[object]], path: Path) -> None:
    """carData::CES11 as Stata: every factor as integer codes with value labels."""
    frame = pd.DataFrame(columns)
    for col, codes in CES11_CODES.items():
        frame[col] = frame[col].map({level: code for level, (code, _) in codes.items()})
        frame[col] = frame[col].astype("int16")
    frame["id"] = frame["id"].astype("int32")
    frame["population"] = frame["population"].astype("int32")
    pyreadstat.write_dta(
        frame,
        str(path),
        file_label="Canadian Election Study 2011 extract (R carData::CES11)",
        column_labels=CES11_LABELS,
        variable_value_labels={
            col: {code: label for code, label in codes.values()}
            for col, codes in CES11_CODES.items()
        },
        version=15,
    )


def main() -> None:
    data = _from_r()
    write_nhanes(data["nhanes"], HERE / "nhanes.sav")
    write_ces11(data["ces11"], HERE / "ces11.dta")
    for name in ("nhanes.sav", "ces11.dta"):
        print(f"{name}: {(HERE / name).stat().st_size:,} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
