// The external signer's page (web/external.go): the document drawn by pdf.js (the inbox's copy on
// this site), and the signature picture typed, drawn or uploaded onto one canvas, sent with the
// optional stamp as data: URLs when the party confirms. Nothing is fetched from elsewhere.
import * as pdfjs from '/bitrix24/inbox/assets/pdf.min.mjs';

pdfjs.GlobalWorkerOptions.workerSrc = '/bitrix24/inbox/assets/pdf.worker.min.mjs';

const viewer = document.getElementById('viewer');
const canvas = document.getElementById('sig');
const ctx = canvas.getContext('2d');
let mode = 'type';
let drawn = false;

async function showDocument() {
  const doc = await pdfjs.getDocument({ url: viewer.dataset.src, isEvalSupported: false }).promise;
  for (let n = 1; n <= doc.numPages; n++) {
    const page = await doc.getPage(n);
    const vp = page.getViewport({ scale: 1.3 });
    const c = document.createElement('canvas');
    c.width = Math.floor(vp.width);
    c.height = Math.floor(vp.height);
    viewer.appendChild(c);
    await page.render({ canvas: c, canvasContext: c.getContext('2d'), viewport: vp }).promise;
    c.dataset.drawn = 'true';
  }
  viewer.dataset.pages = String(doc.numPages);
}

function clear() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  drawn = false;
}

function typeName() {
  clear();
  const text = document.getElementById('typed').value.trim();
  if (!text) return;
  let size = 64;
  ctx.fillStyle = '#1a2a6c';
  do {
    ctx.font = 'italic ' + size + 'px "Segoe Script", "Brush Script MT", cursive, serif';
    size -= 4;
  } while (ctx.measureText(text).width > canvas.width - 20 && size > 12);
  ctx.textBaseline = 'middle';
  ctx.fillText(text, 10, canvas.height / 2);
  drawn = true;
}

function setMode(m) {
  mode = m;
  for (const t of document.querySelectorAll('.tab')) {
    t.classList.toggle('on', t.dataset.mode === m);
    t.setAttribute('aria-pressed', String(t.dataset.mode === m));
  }
  for (const p of document.querySelectorAll('[data-pane]')) p.hidden = p.dataset.pane !== m;
  clear();
  if (m === 'type') typeName();
}

function drawing() {
  let last = null;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => {
    if (mode !== 'draw') return;
    last = at(e);
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e);
    ctx.strokeStyle = '#1a2a6c';
    ctx.lineWidth = 3;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
    last = p;
    drawn = true;
  });
  const end = () => { last = null; };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
}

function readFile(input) {
  return new Promise((resolve, reject) => {
    const f = input.files[0];
    if (!f) { resolve(''); return; }
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(f);
  });
}

async function uploadSignature() {
  const url = await readFile(document.getElementById('sigfile'));
  if (!url) return;
  const img = new Image();
  img.onload = () => {
    clear();
    const k = Math.min(canvas.width / img.width, canvas.height / img.height);
    ctx.drawImage(img, 0, 0, img.width * k, img.height * k);
    drawn = true;
  };
  img.src = url;
}

async function uploadStamp() {
  const url = await readFile(document.getElementById('stampfile'));
  document.getElementById('stamp').value = url;
  const p = document.getElementById('stamp-preview');
  p.src = url;
  p.hidden = !url;
}

for (const t of document.querySelectorAll('.tab')) t.addEventListener('click', () => setMode(t.dataset.mode));
document.getElementById('typed').addEventListener('input', typeName);
document.getElementById('clear').addEventListener('click', clear);
document.getElementById('sigfile').addEventListener('change', uploadSignature);
document.getElementById('stampfile').addEventListener('change', uploadStamp);
document.getElementById('confirm-form').addEventListener('submit', (e) => {
  if (!drawn) {
    e.preventDefault();
    canvas.focus();
    return;
  }
  document.getElementById('signature').value = canvas.toDataURL('image/png');
});
drawing();
typeName();
showDocument().catch((err) => { viewer.textContent = String(err); }).finally(() => { document.body.dataset.ready = 'true'; });
