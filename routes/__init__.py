"""Route plugins shipped with LLMProxy. Each registers through the ``llmproxy.routes`` entry
point group, exactly as a third-party route package would."""
