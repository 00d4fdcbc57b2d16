from littlebaby.testing import tokenizer_suite

import littlebaby_tokenizer_bytes

TestBytes = tokenizer_suite("bytes", plugin=littlebaby_tokenizer_bytes)
