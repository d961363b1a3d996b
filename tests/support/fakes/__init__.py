"""The fake model servers, real HTTP servers on 127.0.0.1 speaking the real protocols with
controllable latency and faults: :mod:`.base` (what they share), :mod:`.ollama` (with
:mod:`.ollama_api` and :mod:`.ollama_handler`) and :mod:`.openai` (with
:mod:`.openai_handler`). Tests and benchmarks import them from
``tests.support.fake_ollama`` and ``tests.support.fake_openai``."""
