"""ReLU-Dropout Lab engine: settings, data, batched networks, metrics, training. No UI here."""
# Part of every stored run's key: bump it whenever the same settings give different numbers.
# 0.2.0: dropout masks laid out layer by layer (other random bits per unit), loss via logsumexp.
__version__ = "0.2.0"
