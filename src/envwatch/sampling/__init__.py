"""Sample identification labels and chain of custody (识别标识系统, WZ-A2)."""
