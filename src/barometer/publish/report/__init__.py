"""The self-contained HTML report: the poll's findings, charts and methodology."""
