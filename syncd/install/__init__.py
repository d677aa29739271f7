"""What `syncd install` writes (templates) and how it knows a file is still the one it wrote (record)."""
