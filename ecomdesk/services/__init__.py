"""Service layer: plain Python units of work between the UI (or CLI) and the data layer. No Qt here."""
