"""Multi-view maker for audio: waveform crops ``[B, V, T]`` -> augmented log-mel views."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssl_core.augment import audio, audio_level, audio_warp
from ssl_core.augment.checks import check_audio
from ssl_core.config import AugmentConfig, FrontendConfig
from ssl_core.frontends import LogMelFrontend, fp32_region


class AudioViewMaker(nn.Module):
    """Builds SSL views of a batch of recordings on the device, batched, per-example random.

    Per global view (BYOL-A order, Niizumi et al. 2021, 2023), source first, then the scene,
    then the channel, then the spectrogram:

    1. waveform: gain -> linear fader (the source approaches or recedes) -> white noise
       (a constant noise floor at an SNR relative to the faded source);
    2. mel power: background mix with another example (same acoustic scene) -> random
       low / high / band-pass (the microphone and path colour the whole mixture);
    3. log;
    4. log-mel: time stretch -> random resized crop (geometric warps first, so the masks
       that follow keep their configured widths) -> pitch shift -> time mask -> freq mask;
    5. standardisation, last, so instance norm sees the augmented input.

    Every step has a probability and a strength in ``AugmentConfig``; probability 0 or
    strength 0 makes it the identity. Randomness comes from torch's global RNG on the
    input's device: ``torch.manual_seed`` makes views reproducible and the trainer
    checkpoints that state. There is no per-call ``torch.Generator``:
    ``torchaudio.functional.mask_along_axis_iid`` (the SpecAugment masks) draws from the
    global RNG only, so a generator could not cover every step.

    Local views (multi-crop, DINO: Caron et al. 2021, https://arxiv.org/abs/2104.14294):
    local view j is a random window of ``round(local_crop_fraction * frames)`` frames
    (offset per example) of global view ``j % num_global``'s log-mel *before* its
    spectrogram augmentations; it shares that view's waveform augmentations and mix (no
    extra STFT) and then gets its own pitch shift, masks and standardisation.
    """

    def __init__(self, augment: AugmentConfig, frontend: FrontendConfig, sample_rate: int) -> None:
        super().__init__()
        check_audio(augment)
        self.cfg = augment
        self.frontend = LogMelFrontend(frontend, sample_rate)
        # Band centres for the filter's per-band gains; derived from the config, not trained.
        centres = audio_level.mel_band_centres(frontend.n_mels, frontend.f_min, frontend.f_max)
        self.register_buffer("band_centres", centres, persistent=False)

    def local_frames(self, frames: int) -> int:
        """Length in frames of a local view cut from a ``frames``-frame global view."""
        return max(1, round(self.cfg.local_crop_fraction * frames))

    @torch.no_grad()
    def forward(self, waves: Tensor, num_global: int = 2) -> list[Tensor]:
        """Make views of ``waves: [B, V, T]`` (V distinct crops per recording).

        Returns:
            ``num_global`` tensors ``[B, 1, n_mels, frames]`` (view i from crop ``i % V``),
            then ``num_local_crops`` tensors ``[B, 1, n_mels, round(local_crop_fraction * frames)]``,
            all float32 on ``waves.device``; ``frames = T // hop_length + 1``.
        """
        if waves.dim() != 3 or waves.shape[1] < 1:
            raise ValueError(f"waves must be [B, V, T] with V >= 1, got shape {tuple(waves.shape)}")
        if not isinstance(num_global, int) or num_global < 1:
            raise ValueError(f"num_global must be an integer >= 1, got {num_global!r}")
        cfg = self.cfg
        with fp32_region(waves.device):
            raw = [self._raw_logmel(waves[:, i % waves.shape[1]].float()) for i in range(num_global)]
            views = [self._finish(logmel) for logmel in raw]
            if cfg.num_local_crops:
                length = self.local_frames(raw[0].shape[-1])
                for j in range(cfg.num_local_crops):
                    views.append(self._finish(audio.random_time_crop(raw[j % num_global], length)))
        return views

    @torch.no_grad()
    def embed_input(self, waves: Tensor) -> Tensor:
        """Deterministic evaluation input: ``waves: [B, T]`` -> ``[B, 1, n_mels, frames]`` (front end only)."""
        return self.frontend(waves)

    def _raw_logmel(self, wave: Tensor) -> Tensor:
        """Waveform and power-domain augmentations, then the log: [B, T] -> [B, n_mels, frames]."""
        cfg = self.cfg
        wave = audio.random_gain(wave, cfg.gain_p, cfg.gain_db)
        wave = audio_level.random_fader(wave, cfg.fader_p, cfg.fader_db)
        wave = audio.add_white_noise(wave, cfg.noise_p, cfg.noise_snr_db)
        power = self.frontend.mel_power(wave)
        power = audio.mix_background(power, cfg.mix_p, cfg.mix_ratio)
        power = audio_level.random_filter(power, cfg.filter_p, cfg.filter_db, self.band_centres)
        return self.frontend.log_compress(power)

    def _finish(self, logmel: Tensor) -> Tensor:
        """Spectrogram augmentations then standardisation: [B, F, T] -> [B, 1, F, T]."""
        cfg = self.cfg
        logmel = audio_warp.time_stretch(logmel, cfg.time_stretch_p, cfg.time_stretch_max)
        # The mel matmul leaves the log-mel transposed in memory; time_stretch's torch.where
        # returns it dense, and a skipped time_stretch (p = 0) must too: the means and std
        # below add in memory order, so the layout decides their last bits (no-op if dense).
        logmel = logmel.contiguous()
        logmel = audio_warp.spec_resized_crop(logmel, cfg.spec_crop_p, cfg.spec_crop_scale_min)
        logmel = audio.pitch_shift(logmel, cfg.pitch_shift_p, cfg.pitch_shift_bins)
        logmel = audio.time_mask(logmel, cfg.time_mask_p, cfg.time_mask_frames)
        logmel = audio.freq_mask(logmel, cfg.freq_mask_p, cfg.freq_mask_bins)
        return self.frontend.standardize(logmel).unsqueeze(1)
