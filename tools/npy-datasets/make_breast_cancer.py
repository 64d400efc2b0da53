"""Writes data/breast-cancer/{x,y}_{train,test}.npy from scikit-learn's copy
of the Wisconsin diagnostic breast cancer table (569 samples, 30 features,
2 classes: 0 malignant, 1 benign), which ships inside the scikit-learn
package (no download).

Features are standardized with the training split's mean and standard
deviation; the split is stratified, 455 training and 114 test samples,
seed 7. Rerun from the repository root:

    pip install scikit-learn numpy
    python3 tools/npy-datasets/make_breast_cancer.py
"""

import pathlib

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

out = pathlib.Path("data/breast-cancer")
out.mkdir(parents=True, exist_ok=True)
x, y = load_breast_cancer(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(
    x, y, test_size=0.2, stratify=y, random_state=7
)
mean, std = x_train.mean(axis=0), x_train.std(axis=0)
for name, a in {
    "x_train": (x_train - mean) / std,
    "x_test": (x_test - mean) / std,
}.items():
    np.save(out / f"{name}.npy", a.astype(np.float32))
np.save(out / "y_train.npy", y_train.astype(np.int64))
np.save(out / "y_test.npy", y_test.astype(np.int64))
print({k: v.shape for k, v in [("train", x_train), ("test", x_test)]})
