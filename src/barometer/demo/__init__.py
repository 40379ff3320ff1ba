"""The demo poll: its simulated populations, its fieldwork firms' files and the figures
it is checked against (../shared/SEED-FACTS.md)."""
