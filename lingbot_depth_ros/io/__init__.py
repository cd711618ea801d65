"""File formats: PLY point clouds, depth images (PNG mm / NPY m / TIFF m), RGB images."""
