"""Listening pages: an index.html in every folder of outputs, one for the run.

    write_folder_page(directory)          # directory/index.html
    write_run_page(workdir)               # workdir/samples/index.html

A folder's page has, for each wav (sorted by name), an audio player, its
picture (<stem>.png beside it) and its metrics (<stem>.json beside it, or
the `metrics` given); a run's page links every folder's page under
samples/, newest first. Plain HTML with relative links: open the file in a
browser, or copy the folder anywhere. A small script records in
body[data-loaded] how many players and pictures loaded (the tests read it).
"""

import html
import json
import os
import re
import urllib.parse
from typing import Dict, Optional

PAGE = 'index.html'
# In every page's head: marks a folder as one audiodiff wrote (outputs.py
# writes into an existing --output folder only when it is).
GENERATOR = '<meta name="generator" content="audiodiff">'

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em}
.item{border-bottom:1px solid #ccc;padding:1em 0}
.item img{max-width:100%;display:block;margin-top:.5em}
table{border-collapse:collapse}td{padding:0 1em 0 0}"""

_SCRIPT = """<script>
function count(){
  const audio=[...document.querySelectorAll('audio')];
  const images=[...document.querySelectorAll('img')];
  const ready=audio.filter(a=>a.readyState>=1&&a.duration>0).length;
  const shown=images.filter(i=>i.complete&&i.naturalWidth>0).length;
  document.body.dataset.loaded=`audio ${ready}/${audio.length} images ${shown}/${images.length}`;
}
window.addEventListener('load',count);
document.querySelectorAll('audio').forEach(a=>a.addEventListener('loadedmetadata',count));
</script>"""


def _link(name: str) -> str:
  return html.escape(urllib.parse.quote(name), quote=True)


def _metrics_table(values: dict) -> str:
  rows = []
  for key, value in values.items():
    if isinstance(value, dict):
      value = ', '.join(f'{k} {v:.3g}' if isinstance(v, float) else f'{k} {v}'
                        for k, v in value.items())
    elif isinstance(value, float):
      value = f'{value:.3f}'
    rows.append(f'<tr><td>{html.escape(str(key))}</td><td>{html.escape(str(value))}</td></tr>')
  return f'<table>{"".join(rows)}</table>' if rows else ''


def _read_metrics(path: str) -> dict:
  try:
    with open(path) as f:
      values = json.load(f)
  except (OSError, ValueError):
    return {}
  return values if isinstance(values, dict) else {}


def write_folder_page(directory: str, title: Optional[str] = None,
                      metrics: Optional[Dict[str, dict]] = None) -> str:
  """directory/index.html over the wavs in `directory`; returns its path."""
  metrics = metrics or {}
  items = []
  for name in sorted(os.listdir(directory)):
    stem, extension = os.path.splitext(name)
    if extension.lower() != '.wav':
      continue
    parts = [f'<h3>{html.escape(stem)}</h3>',
             f'<audio controls preload="metadata" src="{_link(name)}"></audio>']
    if os.path.exists(os.path.join(directory, stem + '.png')):
      parts.append(f'<img src="{_link(stem + ".png")}" alt="{html.escape(stem)}">')
    values = metrics.get(stem) or _read_metrics(os.path.join(directory, stem + '.json'))
    parts.append(_metrics_table(values))
    items.append(f'<div class="item">{"".join(parts)}</div>')
  title = html.escape(title or os.path.basename(os.path.abspath(directory)))
  page = (f'<!DOCTYPE html><html><head><meta charset="utf-8">{GENERATOR}'
          f'<title>{title}</title><style>{_STYLE}</style></head><body><h1>{title}</h1>'
          f'<p>{len(items)} recordings.</p>{"".join(items)}{_SCRIPT}</body></html>')
  path = os.path.join(directory, PAGE)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    f.write(page)
  os.replace(path + '.tmp', path)
  return path


def listed_files(directory: str) -> Optional[set]:
  """The wav names the folder's page lists (the files audiodiff wrote
  there); None when the folder has no page audiodiff wrote."""
  try:
    with open(os.path.join(directory, PAGE), encoding='utf-8', errors='replace') as f:
      page = f.read()
  except OSError:
    return None
  if GENERATOR not in page:
    return None
  return {urllib.parse.unquote(html.unescape(name))
          for name in re.findall(r'<audio [^>]*src="([^"]+)"', page)}


def write_run_page(workdir: str) -> Optional[str]:
  """workdir/samples/index.html linking each folder page there (newest
  first); None when there is no samples folder."""
  root = os.path.join(workdir, 'samples')
  if not os.path.isdir(root):
    return None
  folders = [d for d in os.listdir(root) if os.path.exists(os.path.join(root, d, PAGE))]
  folders.sort(key=lambda d: os.path.getmtime(os.path.join(root, d, PAGE)), reverse=True)
  links = ''.join(f'<li><a href="{_link(d)}/{PAGE}">{html.escape(d)}</a></li>' for d in folders)
  title = html.escape(f'Samples of {os.path.basename(os.path.abspath(workdir))}')
  page = (f'<!DOCTYPE html><html><head><meta charset="utf-8">{GENERATOR}'
          f'<title>{title}</title><style>{_STYLE}</style></head><body><h1>{title}</h1><ul>{links}</ul></body></html>')
  path = os.path.join(root, PAGE)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    f.write(page)
  os.replace(path + '.tmp', path)
  return path
