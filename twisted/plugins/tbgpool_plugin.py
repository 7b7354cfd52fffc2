"""twistd plugin: ``twistd -n tbgpool --config FILE``."""

from twisted.application.service import ServiceMaker

tbgpool = ServiceMaker(
    "tbgpool", "tbgpool.tap", "A solo Bitcoin mining pool server (Stratum v1)", "tbgpool"
)
