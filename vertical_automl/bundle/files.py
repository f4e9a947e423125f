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
HTML_FILE = "report.html"
MARKDOWN_FILE = "report.md"

# What each file holds, for the report's file list.
FILE_PURPOSES = {
    MODEL_FILE: "the model; loads with keras.saving.load_model, safe mode on",
    PREPROCESSING_FILE: "every step before and after the model: input specification, class names, decision threshold",
    REPORT_FILE: "test metrics, report sections, dataset summary, best hyperparameters, search summary",
    TRIALS_FILE: "every trial: hyperparameters, score, epochs, seconds, status and error",
    PROFILE_FILE: "the training inputs' ranges and histograms, against which vautoml serve measures input drift",
    MANIFEST_FILE: "run id, vertical, plugin, data fingerprints, library versions, file list",
    MODEL_CARD_FILE: "the model card on its own",
    HTML_FILE: "this report",
    MARKDOWN_FILE: "this report as Markdown (plots in plots/)",
}
