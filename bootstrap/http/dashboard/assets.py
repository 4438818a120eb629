"""The dashboard's style and its one script, inline: nothing to build, nothing fetched."""

CSS = """
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0; }
header { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; padding: .5rem 1rem;
  border-bottom: 1px solid #8884; }
nav { display: flex; flex-wrap: wrap; gap: .75rem; flex: 1; }
main { padding: 1rem; max-width: 80rem; }
a:focus, button:focus, input:focus, select:focus { outline: 3px solid #48f; outline-offset: 2px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #8883; vertical-align: top; }
pre { white-space: pre-wrap; word-break: break-word; background: #8881; padding: .5rem; max-height: 30rem;
  overflow: auto; }
.status { padding: 0 .4rem; border-radius: .3rem; background: #8882; }
.status.done { background: #2a63; } .status.failed { background: #d333; }
.status.running { background: #36f3; }
.muted { opacity: .7; } .note { padding: .5rem; background: #fc03; }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; }
.cards section { border: 1px solid #8884; padding: .5rem 1rem; min-width: 14rem; flex: 1; }
form.inline { display: inline; }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: 1rem; }
label { display: flex; flex-direction: column; font-size: .9rem; }
"""

# Live pages re-read their <main> every two seconds (no reload: focus and scroll stay);
# buttons that cannot be undone ask first.
SCRIPT = """
document.addEventListener('submit', (ev) => {
  const ask = ev.target.dataset.confirm;
  if (ask && !window.confirm(ask)) ev.preventDefault();
});
async function refresh() {
  const main = document.getElementById('main');
  if (!main || main.dataset.live !== '1' || document.activeElement?.closest('form')) return;
  try {
    const res = await fetch(location.href, {headers: {'X-Qrun-Fragment': '1'}});
    if (res.ok) main.innerHTML = await res.text();
  } catch (e) { /* the daemon restarts: try again next time */ }
}
setInterval(refresh, 2000);
"""
