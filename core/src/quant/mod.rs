//! Quantization: int8 (scale + zero point, fixed-point requantization) and f16 storage.
