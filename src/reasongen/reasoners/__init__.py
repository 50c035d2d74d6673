"""Text reasoners: prompt (and image) -> a plan. The ShapesWorld oracle is exact (`oracle.py`)."""
