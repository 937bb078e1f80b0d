"""Static files storage: WhiteNoise's compressed manifest storage, with gzip copies only.

WhiteNoise also writes brotli copies whenever the `brotli` module happens to be importable (some
unrelated package may pull it in): builds would then differ from machine to machine and
collectstatic takes about ten times as long. gzip is what every client and the gateway handle.
"""

from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage


class CompressedManifestStorage(CompressedManifestStaticFilesStorage):
    def create_compressor(self, **kwargs) -> Compressor:
        return Compressor(use_brotli=False, **kwargs)
