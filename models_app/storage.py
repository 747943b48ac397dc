from django.core.files.storage import FileSystemStorage


class ArtifactFileStorage(FileSystemStorage):
    """Local artifact storage: a version's paths are fixed, so a save replaces, never renames."""

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        if self.exists(name):
            self.delete(name)
        return name
