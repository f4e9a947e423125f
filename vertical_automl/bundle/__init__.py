"""The bundle: the folder a search publishes into the model registry, one per finished run.

* :mod:`.files`: the names of the bundle's files, one definition that every
  writer and reader uses (it imports nothing, so reading a run stays light);
* :mod:`.writer`: writes a bundle at the end of a search (``model.keras``,
  verified, the JSON sidecars, the model card, the reports, the trial logs);
* :mod:`.model_card`: the model card, ``model_card.md``;
* :mod:`.report`: ``report.html`` and ``report.md``, assembled from the bundle's own documents.

Moving a finished bundle into the registry is :func:`vertical_automl.registry.run_folder.publish`;
reading one back is :mod:`vertical_automl.registry.runs`; ``vautoml export``, which adds ONNX or
weights files to a published bundle, is :mod:`vertical_automl.export`.  This file imports
nothing, so that :mod:`.files` can be used without loading Keras.
"""
