"""Building blocks for dataset plugins, ours and third parties' alike.

- `cache`: convert a dataset once into an HDF5 file of uint8 arrays, read it back fast.
- `files`: find, download and read IDX, .mat, .npz, HDF5 and image files with clear errors.
- `layout`: find a file in any of the folder layouts a dataset accepts (ours, torchvision's).
- `grid`: factor grids (row-major image order, value <-> index, fixed train/test splits).
- `options`: the data directory, split and image-size checks every dataset makes.
- `progress`: a progress bar for slow conversions, when the command shows one.
"""

from disentangle.data.cache import cache_dir, memmap, open_cache, read_tensors, source_identity
from disentangle.data.files import (
    expect_array,
    fetch,
    h5_array,
    load_mat,
    load_npz,
    open_h5,
    read_h5,
    read_idx,
    read_rgb,
)
from disentangle.data.grid import (
    GridFileDataset,
    GridLookup,
    check_enumerates_grid,
    check_indices,
    grid_factors,
    grid_index,
    split_grid,
    values_to_indices,
    write_grid_splits,
)
from disentangle.data.layout import FETCH, DataNotFound, find_in
from disentangle.data.options import check_image_size, check_split, resolve_data_dir
from disentangle.data.progress import progress, show_progress

__all__ = [
    "cache_dir", "memmap", "open_cache", "read_tensors", "source_identity",
    "expect_array", "fetch", "h5_array", "load_mat", "load_npz", "open_h5",
    "read_h5", "read_idx", "read_rgb", "find_in", "DataNotFound", "FETCH",
    "GridFileDataset", "GridLookup", "check_enumerates_grid", "check_indices", "grid_factors",
    "grid_index", "split_grid", "values_to_indices", "write_grid_splits",
    "check_image_size", "check_split", "resolve_data_dir", "progress", "show_progress",
]
