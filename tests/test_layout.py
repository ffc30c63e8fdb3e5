"""The package's layers and the direction of its imports (audiodiff/__init__.py
states the rules; this test parses every import, function-level ones too)."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, 'audiodiff')


def _module_name(path):
  relative = os.path.relpath(path, ROOT)[:-len('.py')].split(os.sep)
  if relative[-1] == '__init__':
    relative = relative[:-1]
  return '.'.join(relative)


def _modules():
  """{dotted name: path} of every module in audiodiff/."""
  found = {}
  for folder, _, files in os.walk(PACKAGE):
    for file in files:
      if file.endswith('.py'):
        found[_module_name(os.path.join(folder, file))] = os.path.join(folder, file)
  return found


MODULES = _modules()


def _imports(path):
  """The dotted names a file imports: `from a.b import c` counts as a.b.c
  when that is a module, else as a.b."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      for alias in node.names:
        full = f'{node.module}.{alias.name}'
        names.add(full if full in MODULES else node.module)
  return names


GRAPH = {name: {n for n in _imports(path) if n in MODULES} for name, path in MODULES.items()}
ALL_IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _in(name, layer):
  return name == layer or name.startswith(layer + '.')


@pytest.mark.parametrize('lower, upper', [
    ('audiodiff.diffusion', 'audiodiff.run'), ('audiodiff.diffusion', 'audiodiff.tasks'),
    ('audiodiff.diffusion', 'audiodiff.models'), ('audiodiff.diffusion', 'audiodiff.data'),
    ('audiodiff.audio', 'audiodiff.run'), ('audiodiff.audio', 'audiodiff.tasks'),
    ('audiodiff.audio', 'audiodiff.models'), ('audiodiff.audio', 'audiodiff.data'),
    ('audiodiff.tasks', 'audiodiff.run'),
    ('audiodiff', 'experiments'),
])
def test_imports_point_down(lower, upper):
  offending = sorted(f'{name} imports {imported}'
                     for name, imported_names in ALL_IMPORTS.items() if _in(name, lower)
                     for imported in imported_names if _in(imported, upper))
  assert not offending, offending


def test_no_import_cycle():
  """Depth-first search over every import of every module, function-level
  ones included: a cycle held apart by a late import counts."""
  state, path = {}, []

  def visit(name):
    state[name] = 'open'
    path.append(name)
    for imported in sorted(GRAPH[name]):
      if state.get(imported) == 'open':
        cycle = path[path.index(imported):] + [imported]
        pytest.fail('import cycle: ' + ' -> '.join(cycle))
      if imported not in state:
        visit(imported)
    path.pop()
    state[name] = 'done'

  for name in sorted(GRAPH):
    if name not in state:
      visit(name)


def test_the_top_level_holds_layers_not_modules():
  top = sorted(f for f in os.listdir(PACKAGE) if f.endswith('.py'))
  assert len(top) <= 6, top


def test_the_graph_sees_imports():
  """The checks above would pass on an empty graph; they must not."""
  assert 'audiodiff.diffusion.schedules' in GRAPH['audiodiff.diffusion.samplers']
  assert 'audiodiff.run.api' in GRAPH['audiodiff.run.train']
