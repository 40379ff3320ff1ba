"""Banner tables: questions down the side, breakdowns across, with significance letters."""
