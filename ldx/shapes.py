"""The shape legend of ldx: one letter, one meaning, in every module.

Docstrings and comments write array shapes as `# [B, T, D]` with these letters (as
recurrentgemma's array_typing.py does). A module that needs another size names it in words
(`[B, heads, T, head_size]`), never with a letter that means something else here.

    B    batch: the windows, series or trials handled together
    N    rows of a whole set (every test window, every trial, every point of an embedding)
    M    rows of a second set compared with the first (generated windows)
    W    windows cut from one long series
    R    repeats of a learned metric
    T    time steps of a window (config.data.seq_len)
    D    features of a time step (LDIDP: every observed neuron)
    Din  held-in features an LDIDP encoder reads (D - Din are held out)
    F    flattened features of a window, T * D (or a layer's input width)
    Z    latent size (config.model.latent_dim)
    G    ground-truth latent size of a synthetic generator (spiral 2, Lorenz 3)
    H    hidden width of an encoder, decoder, dynamics network or metric GRU
    E    width of a step embedding
    C    channels of a U-net level
    S    quadrature points of the dependency measure
    J    inputs of a decoder step in the dependency measure, T + 1 (z, x_0 .. x_{T-1})
    L    diffusion steps (index 0 is clean, L pure noise)
    P    entries of the flat parameter vector
    K    lags, random projections or Monte Carlo draws (the module says which)

PSLD's hyper-parameters keep the paper's names in equations (N VI steps, M the L_CS window):
they are counts, not array axes; as axes they are written `num_vi_steps`, `cs_window`.
"""
