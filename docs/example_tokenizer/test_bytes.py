import littlebaby_tokenizer_bytes

from littlebaby.testing import tokenizer_suite

TestBytes = tokenizer_suite("bytes", plugin=littlebaby_tokenizer_bytes)
