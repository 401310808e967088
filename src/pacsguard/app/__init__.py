"""The application layer: one module per use case, called alike by the command line, the web
dashboard and the scheduler.

Each function takes plain arguments (paths, settings, a workspace) and returns typed results
(frozen dataclasses); none prints, prompts or exits. Rendering is the caller's job
(``pacsguard.render``). See docs/architecture.md.
"""
