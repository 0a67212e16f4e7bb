"""keras_tfm: the Transformer family for Keras 3, from `model.fit` to TFLite.

`keras_tfm.layers`, `keras_tfm.models` and `keras_tfm.generation` use only
`keras.ops` and run on every Keras backend. `keras_tfm.text` and
`keras_tfm.data` need TensorFlow and are imported on demand.
"""

__version__ = "0.1.0"

from keras_tfm import layers  # noqa: E402,F401
from keras_tfm import models  # noqa: E402,F401
