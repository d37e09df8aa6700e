"""Application code on top of the library: scoring runs, reports, figures, the grid.

scores.py     a trained LD/PSLD run's samples scored against held-out windows (and the floor)
published.py  the published (Diffusion-TS) protocol: every window, 95% intervals, Context-FID
report.py     markdown tables and figures of evaluation results
grid.py       train and score a grid of methods x backbones x datasets x seeds, resumably
samples.py    a run's samples as .npz and .png
embedding.py  PCA and a small exact t-SNE for the figures
plotting.py   matplotlib (Agg backend): the samples figure (per-feature panels, count rasters)

LDIDP's evaluation is its family's own: ldx/ldidp/evaluation.py.
"""
