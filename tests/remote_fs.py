"""A warehouse at a file:// URL, served through Beam's FileSystems the way gs:// or s3:// is: every path
the run hands over is a URL, so code that treats a remote warehouse as a local folder fails here."""
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem

PREFIX = "file://"


def _local(path: str) -> str:
    assert path.startswith(PREFIX), path
    return path[len(PREFIX):]


def _url(path: str) -> str:
    return PREFIX + path


class FileUrlFileSystem(LocalFileSystem):
    """Beam's local file system under the file:// scheme (Beam has none for it). It delegates to a plain
    one, whose own calls between its methods then stay local."""

    def __init__(self, pipeline_options=None):
        super().__init__(pipeline_options)
        self.local = LocalFileSystem(pipeline_options)

    @classmethod
    def scheme(cls):
        return "file"

    def join(self, basepath, *paths):
        return _url(self.local.join(_local(basepath), *paths))

    def split(self, path):
        head, tail = self.local.split(_local(path))
        return _url(head), tail

    def mkdirs(self, path):
        return self.local.mkdirs(_local(path))

    def has_dirs(self):
        return True

    def match(self, patterns, limits=None):
        results = self.local.match([_local(p) for p in patterns], limits)
        return [MatchResult(p, [FileMetadata(_url(m.path), m.size_in_bytes, m.last_updated_in_seconds)
                                for m in r.metadata_list]) for p, r in zip(patterns, results)]

    def create(self, path, *args, **kwargs):
        return self.local.create(_local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return self.local.open(_local(path), *args, **kwargs)

    def copy(self, source_file_names, destination_file_names):
        return self.local.copy([_local(p) for p in source_file_names], [_local(p) for p in destination_file_names])

    def rename(self, source_file_names, destination_file_names):
        return self.local.rename([_local(p) for p in source_file_names], [_local(p) for p in destination_file_names])

    def exists(self, path):
        return self.local.exists(_local(path))

    def size(self, path):
        return self.local.size(_local(path))

    def last_updated(self, path):
        return self.local.last_updated(_local(path))

    def checksum(self, path):
        return self.local.checksum(_local(path))

    def metadata(self, path):
        m = self.local.metadata(_local(path))
        return FileMetadata(path, m.size_in_bytes, m.last_updated_in_seconds)

    def delete(self, paths):
        return self.local.delete([_local(p) for p in paths])
