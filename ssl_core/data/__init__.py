"""Data layer: dataset indexes (BirdCLEF audio, class folders, CSV manifests, image CSVs,
embedded datasets), recording-level splits, a seed-carrying epoch sampler and crop/decoding
datasets."""
from .audio_dataset import AudioCropDataset
from .birdclef import load_birdclef
from .catalog import FORMATS, detect_format, load_dataset
from .embedded import EMBEDDED, embedded_path
from .folders import load_folder
from .image_csv import load_image_csv
from .audio_dataset import AudioWindowsDataset
from .decode_cache import DecodeCache, DecodeReport, prepare_audio
from .image_dataset import ImageDataset
from .manifest import load_manifest
from .media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
from .records import DatasetIndex, Item
from .sampler import EpochSampler
from .splits import split_by_fold, split_by_recording

__all__ = [
    "AUDIO_EXTENSIONS", "AudioCropDataset", "AudioWindowsDataset", "DatasetIndex", "DecodeCache", "DecodeReport", "EMBEDDED", "EpochSampler", "FORMATS",
    "IMAGE_EXTENSIONS", "ImageDataset", "Item", "detect_format", "embedded_path", "load_birdclef",
    "load_dataset", "load_folder", "load_image_csv", "load_manifest", "split_by_fold",
    "prepare_audio", "split_by_recording",
]
