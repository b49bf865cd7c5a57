"""Patterns: traffic facts from every source, matched per camera by the pattern catalogue
(built on the `udfs.cep` library), with signal-state joins and cooldowns."""
