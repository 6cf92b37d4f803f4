"""ReLU-Dropout Lab engine: settings, data, batched networks, metrics, training. No UI here."""
# Part of every stored run's key: bump it whenever the same settings give different numbers.
# 0.2.0: dropout masks laid out layer by layer (other random bits per unit), loss via logsumexp.
# 0.3.0: inputs scaled per feature by default (digits were global), n_samples 0 = all (digits use all
# 1797), CNN drops whole channels, a last batch of one is merged under batch norm, and with batch
# norm + dropout the two train-mode passes have their own statistics (issue #11).
# 0.3.1: sigmoid's mask_flip and mask_agreement are NaN (not applicable: it is never off; they read 0
# and 1 before); new per-layer metrics revived and on_frac_train. Every other number is unchanged.
__version__ = "0.3.1"
