"""The starter spec ``barometer init`` writes: a small, valid poll to edit (docs/spec.md)."""

from __future__ import annotations

__all__ = ["STARTER_SPEC"]

STARTER_SPEC = """\
# A barometer poll specification. Documented in docs/spec.md.
name: My poll
countries:                       # ISO 3166-1 alpha-2 codes; adult population
  - {code: DE, name: Germany, population: 69400000}
  - {code: FR, name: France, population: 52500000}
regions:                         # rule: mean (each country counts equally) | population | median
  - {id: EU, name: European Union, members: [DE, FR], rule: mean}
waves:
  - {id: "2025-11", start: 2025-11-01, end: 2025-11-25}
questions:
  - id: us_relationship
    wording: "Thinking about the United States, which of the following best describes it?"
    levels:
      - {code: ally, label: "An ally that shares our interests and values"}
      - {code: partner, label: "A necessary partner with which we must strategically cooperate"}
      - {code: rival, label: "A rival with which we need to compete"}
      - {code: adversary, label: "An adversary with which we are in conflict"}
      - {code: dont_know, label: "Don't know"}
    non_substantive: [dont_know]
  - id: gender
    kind: weighting
    levels: [{code: female, label: Female}, {code: male, label: Male}]
  - id: age
    kind: weighting
    levels:
      - {code: "18-34", label: "18-34"}
      - {code: "35-54", label: "35-54"}
      - {code: "55+", label: "55+"}
sources:
  - id: de-2025-11
    file: data/de_2025-11.sav    # relative to this file; .sav .dta .csv .parquet
    wave: "2025-11"
    country: DE
    firm: Fieldwork firm
    mode: online panel
    respondent_id: resp_id
    variables:       # question id -> column; source code -> level (null = missing)
      us_relationship:
        column: Q7
        codes: {1: ally, 2: partner, 3: rival, 4: adversary, 8: dont_know, 9: null}
      gender: {column: sex, codes: {1: male, 2: female}}
      age: {column: agegrp, codes: {1: "18-34", 2: "35-54", 3: "55+"}}
  - id: fr-2025-11
    file: data/fr_2025-11.csv
    wave: "2025-11"
    country: FR
    respondent_id: id
    variables:                    # text columns that already hold the level codes need no codes
      us_relationship: {column: us_relationship}
      gender: {column: gender}
      age: {column: age}
targets:            # shares summing to 1 (or population totals); wave: null = every wave
  - country: DE
    wave: null
    margins:
      gender: {female: 0.51, male: 0.49}
      age: {"18-34": 0.25, "35-54": 0.33, "55+": 0.42}
  - country: FR
    wave: null
    margins:
      gender: {female: 0.52, male: 0.48}
      age: {"18-34": 0.26, "35-54": 0.32, "55+": 0.42}
"""
