"""The names of a bundle's files, defined once for whoever writes or reads them.

Published bundles are read by apps without vautoml and by later vautoml
versions, so these names are part of the bundle format: changing one needs a
new ``FORMAT_VERSION``.  Nothing is imported here, so the registry's readers
(``vautoml registry list``) can use them without loading Keras.
"""

MODEL_FILE = "model.keras"
MODEL_CARD_FILE = "model_card.md"
PREPROCESSING_FILE = "preprocessing.json"  # every step before the model, and what its output means
REPORT_FILE = "report.json"
MANIFEST_FILE = "manifest.json"  # written last: a bundle without one is not a finished run
TRIALS_FILE = "trials.json"  # every trial of the search; also what a failed search keeps in .failed
PROFILE_FILE = "input_profile.json"  # the training inputs' ranges and histograms, for drift monitoring in serving
