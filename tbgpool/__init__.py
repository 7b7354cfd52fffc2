"""tbgpool: a solo Bitcoin mining pool server on Twisted, speaking Stratum v1."""

__version__ = "0.1.0"
