"""Data layer: dataset indexes (BirdCLEF audio, image CSVs, embedded datasets), recording-level
splits, a seed-carrying epoch sampler and crop/decoding datasets."""
from .audio_dataset import AudioCropDataset
from .birdclef import load_birdclef
from .catalog import load_dataset
from .embedded import EMBEDDED, embedded_path
from .image_csv import load_image_csv
from .image_dataset import ImageDataset
from .records import DatasetIndex, Item
from .sampler import EpochSampler
from .splits import split_by_fold, split_by_recording

__all__ = [
    "AudioCropDataset", "DatasetIndex", "EMBEDDED", "EpochSampler", "ImageDataset", "Item",
    "embedded_path", "load_birdclef", "load_dataset", "load_image_csv", "split_by_fold",
    "split_by_recording",
]
