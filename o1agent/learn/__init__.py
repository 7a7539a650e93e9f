"""Learning: a locally trained policy that improves from its own search.

* ``data`` — traces → SFT rows, step-level DPO pairs, Math-Shepherd PRM labels, GRPO prompts;
* ``model`` — the base policy (SmolLM2-135M-Instruct from the bundled GGUF, cached as safetensors)
  and the checkpoint loaders (the policy that runs a checkpoint, ``model="local:PATH"``, is
  ``o1agent.policies.transformers.TransformersPolicy``);
* ``train`` — SFT / DPO / GRPO with TRL + LoRA and a small PRM value head, on CPU (served at search
  time by ``o1agent.rewards.prm.LearnedPRM``, ``reward="prm:PATH"``);
* ``export`` — merge LoRA and write a GGUF that ``LlamaCppPolicy`` runs;
* ``formats`` — traces as verl / OpenRLHF / TRL datasets (``train export --format``), graded on
  a cluster by ``cluster_reward``;
* ``iterate`` — search → filter → train → evaluate, round after round (expert iteration).

Nothing here is imported by ``import o1agent``; torch, transformers, TRL and peft are imported
lazily inside the functions that need them (the ``train`` extra).
"""
