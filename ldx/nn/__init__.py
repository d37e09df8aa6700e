"""Neural network building blocks (Flax NNX)."""

from ldx.nn.decoders import (
    GaussianHead,
    RNNDecoder,
    TransformerDecoder,
    decode_sample,
    make_decoder,
    shift_right,
)
from ldx.nn.encoders import RNNEncoder, TransformerEncoder, make_encoder
from ldx.nn.recurrent import RNN, GRUCell, LSTMCell
from ldx.nn.transformer import Transformer, sinusoidal_embedding
from ldx.nn.unet import UNet1D
