"""``vautoml serve``: finished runs behind HTTP, batched, monitored and containerisable.

One module per idea:

* :mod:`.runtime`: a run's model as the server calls it (:class:`ModelRuntime`), on Keras or ONNX;
* :mod:`.onnx_runtime`: the ONNX one, which never imports Keras or torch;
* :mod:`.tensors`: the tensor names, types and runtime kinds both share;
* :mod:`.batching`: concurrent requests gathered into one model call;
* :mod:`.protocol`: the Open Inference Protocol (V2) request and response records;
* :mod:`.raw_inputs`: what ``POST /v2/models/{name}/predict`` accepts, as a predictor takes it;
* :mod:`.app`: the ASGI application (the routes, over the batcher);
* :mod:`.guards`: what every request passes (bearer tokens, body limits, request metrics, JSON errors);
* :mod:`.metrics` and :mod:`.drift`: ``/metrics`` in Prometheus format, input drift included;
* :mod:`.profile`: ``input_profile.json``, the training inputs that drift is measured against;
* :mod:`.server`: loading the runs, warming them up and running uvicorn;
* :mod:`.container`: ``vautoml export --format docker``'s build context, with the text files of
  :mod:`.context_files`, the wheels of :mod:`.wheels` and the manifest of :mod:`.kubernetes`.

Nothing here is imported by ``vautoml search`` but :mod:`.profile` (numpy
only), which writes the profile; FastAPI, uvicorn and prometheus-client load
only when a server starts.
"""
