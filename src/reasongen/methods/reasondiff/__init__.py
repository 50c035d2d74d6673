"""ReasonDiff (CVPR 2026): unpaired text + image to video through a reasoning narrator and AlignFormer."""
