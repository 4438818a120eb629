// Live pages re-read their <main> every two seconds (no reload: focus and scroll stay);
// buttons that cannot be undone ask first.
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
