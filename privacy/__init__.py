"""Personal data that can be erased: sealed log values (crypto-shredding), subject ids.

Pure library code, no Kafka: ``streams/keylog.py`` reads and writes the key log.
"""

from signalfold.privacy.sealing import MAGIC, Keyring, SubjectIds, is_sealed, kids_of

__all__ = ["MAGIC", "Keyring", "SubjectIds", "is_sealed", "kids_of"]
