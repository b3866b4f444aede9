"""What a chapter leaves behind, with where it came from: tables (``results``), provenance
(``provenance``), figures (``plots``) and their layout checks (``layout``). Torch-free; the engine's run
context appears here as a type only."""
