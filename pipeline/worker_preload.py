"""What the fork server loads for the process workers before forking them (pipeline.children), so each worker
starts with it in memory it shares instead of loading it on its first pages: the processing code, the language
model, datasketch, and jusText's stop words for second opinions, with the set jusText's classifier makes of them
(0.4 s of CPU and 10 MB, once instead of in each worker)."""
from __future__ import annotations

import datasketch  # noqa: F401 - imported for the workers; see the docstring
from justext.core import define_stoplist

import pipeline.language  # noqa: F401 - reads the model when imported
import pipeline.stages  # noqa: F401 - the workers' code
from pipeline.extract import justext_stopwords

define_stoplist(justext_stopwords())
