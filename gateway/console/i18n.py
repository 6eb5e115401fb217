# ruff: noqa: E501 - message texts read better unbroken
"""The console speaks Bahasa Indonesia by default and English on request.

A small dict-based table: ``translator(lang)`` gives ``t(key)``. The language comes from
``?lang=id|en`` (remembered in a cookie) or that cookie; anything else means Indonesian.
A missing key shows the key itself, and a test checks that every key used exists in both
languages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import Request
from starlette.responses import Response

from gateway.console.i18n_more import MORE as _MORE

LANGUAGES = ("id", "en")
DEFAULT = "id"
COOKIE = "satugate_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "app.name": "Konsol satugate",
        "app.console": "konsol",
        "app.footer": "satugate · setiap tindakan di konsol ini tercatat dalam log audit.",
        "nav.label": "Menu utama",
        "nav.proposals": "Usulan perubahan",
        "clients.person": "Orang (untuk klien admin atau audit: nama pengguna konsol)",
        "clients.proposed": "Usulan dicatat; berlaku setelah disetujui orang lain:",
        "clients.refused": "Usulan ditolak: aturan dua orang atau pemisahan peran.",
        "proposals.title": "Usulan perubahan akses",
        "proposals.rule": (
            "Setiap perubahan yang memperluas akses berlaku setelah disetujui orang lain. Klien "
            "admin atau audit disetujui oleh orang yang akan memakainya; klien audit di pihak "
            "auditor."
        ),
        "proposals.kind": "Jenis",
        "proposals.what": "Isi",
        "proposals.by": "Diusulkan oleh",
        "proposals.approve": "Setujui",
        "proposals.own": "usulan Anda",
        "proposals.none": "Tidak ada usulan yang menunggu.",
        "proposals.approved": "Disetujui dan berlaku.",
        "proposals.two_person_rule": "Ditolak: usulan harus disetujui orang lain.",
        "proposals.approver_not_permitted": "Ditolak: Anda tidak berwenang menyetujui usulan ini.",
        "proposals.person_required": "Ditolak: perubahan ini memerlukan orang yang terdaftar.",
        "proposals.conflict": "Usulan ini sudah diputuskan; tidak ada yang diubah.",
        "proposals.not_found": "Usulan tidak ditemukan.",
        "proposals.invalid_request": "Usulan tidak lagi dapat diterapkan.",
        "proposals.scope_separation": "Ditolak: admin dan audit tidak digabung dengan cakupan lain.",
        "nav.dashboard": "Dasbor",
        "nav.clients": "Instansi & klien",
        "nav.policies": "Kebijakan",
        "nav.simulate": "Simulasi",
        "nav.audit": "Log audit",
        "nav.residents": "Laporan penduduk",
        "nav.alerts": "Peringatan",
        "nav.checkpoint": "Checkpoint",
        "nav.budgets": "Anggaran privasi",
        "pb.title": "Anggaran privasi statistik",
        "pb.intro": "Kerugian privasi (epsilon) yang telah dipakai setiap instansi untuk statistik bulan ini, dari anggaran hibah agregatnya.",
        "pb.agency": "Instansi",
        "pb.grant": "Hibah",
        "pb.epsilon": "Epsilon per kueri",
        "pb.budget": "Anggaran sebulan",
        "pb.spent": "Terpakai",
        "pb.remaining": "Sisa",
        "pb.none": "Tidak ada instansi dengan hibah statistik.",
        "nav.logout": "Keluar",
        "role.admin": "administrator",
        "role.auditor": "auditor",
        "login.title": "Masuk ke konsol",
        "login.intro": "Untuk administrator (Diskominfo) dan auditor (Inspektorat).",
        "login.username": "Nama pengguna",
        "login.password": "Kata sandi",
        "login.totp": "Kode autentikator",
        "login.totp_hint": "(jika akun Anda memakai TOTP)",
        "login.submit": "Masuk",
        "login.failed": (
            "Nama pengguna, kata sandi atau kode salah, atau terlalu banyak percobaan gagal "
            "dari sini sehingga masuk ditahan sementara. Coba lagi nanti."
        ),
        "error.title": "Tidak dapat diproses",
        "error.title_400": "Permintaan tidak valid",
        "error.title_403": "Akses ditolak",
        "error.title_404": "Tidak ditemukan",
        "error.title_409": "Konflik",
        "error.title_422": "Isian tidak valid",
        "error.title_503": "Layanan tidak tersedia",
        "error.back": "Kembali ke dasbor",
        "error.bad_request": "Isian formulir tidak dapat dibaca.",
        "error.csrf": (
            "Formulir ini kedaluwarsa atau tidak berasal dari konsol (token CSRF tidak cocok). "
            "Muat ulang halaman lalu coba lagi."
        ),
        "error.forbidden_admin": (
            "Halaman ini hanya untuk auditor. Administrator tidak dapat membaca log audit "
            "atau riwayat akses penduduk."
        ),
        "error.forbidden_auditor": (
            "Halaman ini hanya untuk administrator. Auditor tidak dapat mengubah kebijakan "
            "atau klien."
        ),
        "error.gateway": "Permintaan ditolak oleh gateway.",
        "dash.title": "Dasbor",
        "dash.window": "Pencarian data penduduk dalam {days} hari terakhir.",
        "dash.truncated": "(hanya peristiwa terbaru yang dihitung)",
        "dash.computed": "Dihitung pukul {time} UTC, diperbarui tiap menit.",
        "dash.lookups": "pencarian data",
        "dash.denial_rate": "tingkat penolakan",
        "dash.open_alerts": "peringatan terbuka",
        "dash.active_policy": "kebijakan aktif",
        "dash.by_day": "Pencarian per hari",
        "dash.by_agency": "Pencarian per instansi",
        "dash.by_purpose": "Pencarian per tujuan",
        "dash.refused": "ditolak",
        "decision.allow": "diizinkan",
        "decision.deny": "ditolak",
        "decision.error": "galat",
        "clients.title": "Instansi dan klien API",
        "clients.agencies": "Instansi (dari kebijakan aktif)",
        "clients.agencies_note": "Instansi, peran dan wilayahnya diatur dalam berkas kebijakan agencies.yaml.",
        "clients.agency_id": "Kode",
        "clients.agency_name": "Nama",
        "clients.roles": "Peran",
        "clients.jurisdiction": "Wilayah",
        "clients.list": "Klien API",
        "clients.client_id": "ID klien",
        "clients.name": "Nama sistem",
        "clients.agency": "Instansi",
        "clients.scopes": "Cakupan",
        "clients.status": "Status",
        "clients.actions": "Tindakan",
        "clients.rotate": "Ganti rahasia",
        "clients.revoke": "Cabut",
        "clients.create": "Daftarkan klien baru",
        "clients.create_submit": "Buat klien",
        "clients.invalid": "Isi nama, pilih instansi dari kebijakan aktif dan minimal satu cakupan.",
        "clients.revoked": "Klien dicabut; tokennya tidak berlaku lagi:",
        "clients.revoke_title": "Cabut klien?",
        "clients.revoke_warning": "Sistem {name} ({agency}) akan langsung berhenti mendapat data: semua tokennya tidak berlaku lagi, dan pencabutan tidak dapat dibatalkan.",
        "clients.revoke_confirm": "Ya, cabut klien ini",
        "clients.cancel": "Batal",
        "secret.title": "Rahasia klien",
        "secret.created": "Klien dibuat",
        "secret.rotated": "Rahasia klien diganti",
        "secret.once": (
            "Rahasia ini hanya ditampilkan sekali. Simpan sekarang di tempat yang aman; "
            "satugate hanya menyimpan hash-nya."
        ),
        "secret.back": "Kembali ke daftar klien",
        "status.active": "aktif",
        "status.revoked": "dicabut",
        "status.proposed": "diusulkan",
        "status.superseded": "digantikan",
        "status.rejected": "ditolak",
        "policies.title": "Kebijakan",
        "policies.active": "Versi aktif:",
        "policies.propose": "Usulkan versi baru",
        "policies.history": "Riwayat versi",
        "policies.status": "Status",
        "policies.author": "Pengusul",
        "policies.created": "Dibuat",
        "policies.approved_by": "Disetujui oleh",
        "policies.comment": "Keterangan",
        "policies.view": "Lihat",
        "policy.title": "Versi kebijakan",
        "policy.hash": "Hash isi",
        "policy.approve": "Setujui dan aktifkan",
        "policy.approve_hint": "Versi baru berlaku setelah disetujui administrator kedua.",
        "policy.own_proposal": (
            "Anda sendiri yang mengusulkan versi ini. Aturan dua orang: persetujuan harus "
            "diberikan oleh administrator lain."
        ),
        "policy.two_person": (
            "Ditolak: Anda tidak dapat menyetujui usulan Anda sendiri. Minta administrator "
            "lain untuk memeriksa dan menyetujuinya."
        ),
        "policy.not_proposed": "Versi ini tidak lagi berstatus diusulkan; tidak ada yang diubah.",
        "policy.approved": "Disetujui. Versi ini sekarang aktif di semua gateway.",
        "policy.diff": "Perbandingan dengan versi aktif #{active}",
        "policy.no_changes": "Tidak ada perbedaan dengan versi aktif.",
        "policy.active_side": "Aktif",
        "policy.proposed_side": "Versi ini",
        "policy.skipped": "… {n} baris tidak berubah …",
        "propose.title": "Usulkan versi kebijakan",
        "propose.intro": (
            "Ubah berkas versi aktif di bawah ini, atau unggah berkas YAML (menggantikan "
            "berkas bernama sama). Kosongkan sebuah berkas untuk menghapusnya. Usulan "
            "diperiksa lalu menunggu persetujuan administrator lain."
        ),
        "propose.upload": "Unggah berkas",
        "propose.upload_hint": "(.yaml, boleh beberapa)",
        "propose.submit": "Kirim usulan",
        "propose.invalid": "Usulan ditolak: bundel kebijakan tidak valid.",
        "sim.title": "Simulasi keputusan",
        "sim.intro": (
            "Tanyakan kebijakan tanpa menyentuh data: misalnya, bolehkah Dinas Sosial membaca "
            "agama untuk bantuan sosial?"
        ),
        "sim.agency": "Instansi",
        "sim.purpose": "Tujuan",
        "sim.action": "Tindakan",
        "sim.fields": "Kolom",
        "sim.fields_hint": "(kosong: semua yang diizinkan)",
        "sim.legal_basis": "Dasar hukum",
        "sim.bundle": "Versi kebijakan",
        "sim.active": "versi aktif",
        "sim.submit": "Tanyakan",
        "sim.allowed": "Diizinkan",
        "sim.denied": "Ditolak",
        "sim.field": "Kolom",
        "sim.treatment": "Perlakuan",
        "sim.rules": "Aturan",
        "sim.subject": "NIK ditampilkan sebagai",
        "sim.cap": "Batas hasil",
        "treatment.clear": "apa adanya",
        "treatment.mask": "disamarkan",
        "treatment.generalise": "digeneralisasi",
        "treatment.pseudonymise": "dipseudonimkan",
        "treatment.withhold": "tidak diberikan",
        "audit.title": "Log audit",
        "audit.intro": "Cari siapa mengakses apa. Setiap pencarian Anda juga tercatat.",
        "audit.agency": "Instansi",
        "audit.officer": "Petugas",
        "audit.purpose": "Tujuan",
        "audit.decision": "Keputusan",
        "audit.action": "Tindakan",
        "audit.from": "Dari tanggal",
        "audit.to": "Sampai tanggal",
        "audit.any": "semua",
        "audit.search": "Cari",
        "audit.results": "{n} peristiwa",
        "audit.none": "Tidak ada peristiwa yang cocok.",
        "audit.next": "Halaman berikutnya",
        "audit.time": "Waktu",
        "audit.fields": "Kolom",
        "audit.count": "Jumlah",
        "audit.bad_nik": "NIK tidak valid: harus 16 angka dengan kode wilayah dan tanggal lahir yang benar.",
        "audit.bad_date": "Tanggal harus berformat TTTT-BB-HH.",
        "audit.bad_cursor": "Penanda halaman tidak valid; mulai dari halaman pertama.",
        "resident.title": "Laporan akses penduduk",
        "resident.intro": (
            "Siapa yang melihat data seorang penduduk (UU PDP Pasal 32). Pencarian ini tercatat "
            "dan akan tampak dalam laporan penduduk tersebut."
        ),
        "resident.submit": "Tampilkan laporan",
        "resident.report_for": "Laporan untuk NIK {nik}",
        "resident.count": "{n} akses tercatat.",
        "resident.hidden_until": "disembunyikan dari penduduk sampai {time}",
        "alerts.title": "Peringatan penyalahgunaan",
        "alerts.intro": "Pola pencarian petugas yang perlu diperiksa auditor (7 hari terakhir).",
        "alerts.kind": "Jenis",
        "alerts.kind.volume": "volume tidak wajar",
        "alerts.kind.off_hours": "di luar jam kerja",
        "alerts.kind.flagged_subject": "penduduk yang ditandai",
        "alerts.kind.family_card": "keluarga sendiri",
        "alerts.period": "Periode",
        "alerts.detail": "Rincian",
        "alerts.evidence": "Bukti (indeks daun)",
        "alerts.none": "Tidak ada peringatan terbuka.",
        "cp.title": "Checkpoint dan verifikasi",
        "cp.intro": (
            "Checkpoint yang ditandatangani mengikat seluruh isi log audit. Verifikasi "
            "memastikan log hanya bertambah dan tidak ada yang diubah."
        ),
        "cp.tree_size": "peristiwa dalam log",
        "cp.latest": "Checkpoint terbaru",
        "cp.verifier_key": "Kunci verifikasi",
        "cp.verify": "Verifikasi",
        "cp.saved": "Checkpoint yang Anda simpan sebelumnya",
        "cp.saved_hint": "(opsional; jika kosong, dibandingkan dengan checkpoint di atas)",
        "cp.verify_now": "Verifikasi sekarang",
        "cp.witnessed": "Dibandingkan dengan checkpoint terakhir yang diverifikasi peramban ini (ukuran {size}).",
        "cp.ok": "Log audit utuh",
        "cp.failed": "Verifikasi GAGAL",
    },
    "en": {
        "app.name": "satugate console",
        "app.console": "console",
        "app.footer": "satugate · every action in this console is recorded in the audit log.",
        "nav.label": "Main menu",
        "nav.proposals": "Proposed changes",
        "clients.person": "Person (for an admin or audit client: the console user name)",
        "clients.proposed": "Proposal recorded; it takes effect when another person approves it:",
        "clients.refused": "Proposal refused: the two-person rule or the separation of roles.",
        "proposals.title": "Proposed changes of access",
        "proposals.rule": (
            "Every change that widens access takes effect when another person approves it. An "
            "admin or audit client is approved by the person who will use it; an audit client "
            "on the auditors' side."
        ),
        "proposals.kind": "Kind",
        "proposals.what": "What",
        "proposals.by": "Proposed by",
        "proposals.approve": "Approve",
        "proposals.own": "your proposal",
        "proposals.none": "No proposal is waiting.",
        "proposals.approved": "Approved and in force.",
        "proposals.two_person_rule": "Refused: a proposal is approved by another person.",
        "proposals.approver_not_permitted": "Refused: you may not approve this proposal.",
        "proposals.person_required": "Refused: this change needs a registered person.",
        "proposals.conflict": "This proposal was already decided; nothing changed.",
        "proposals.not_found": "No such proposal.",
        "proposals.invalid_request": "This proposal can no longer be applied.",
        "proposals.scope_separation": "Refused: admin and audit stand alone on a client.",
        "nav.dashboard": "Dashboard",
        "nav.clients": "Agencies & clients",
        "nav.policies": "Policies",
        "nav.simulate": "Simulation",
        "nav.audit": "Audit log",
        "nav.residents": "Resident report",
        "nav.alerts": "Alerts",
        "nav.checkpoint": "Checkpoint",
        "nav.budgets": "Privacy budgets",
        "pb.title": "Statistics privacy budgets",
        "pb.intro": "The privacy loss (epsilon) each agency has spent on statistics this month, out of its aggregate grant's budget.",
        "pb.agency": "Agency",
        "pb.grant": "Grant",
        "pb.epsilon": "Epsilon per query",
        "pb.budget": "Budget a month",
        "pb.spent": "Spent",
        "pb.remaining": "Remaining",
        "pb.none": "No agency has a statistics grant.",
        "nav.logout": "Sign out",
        "role.admin": "administrator",
        "role.auditor": "auditor",
        "login.title": "Sign in to the console",
        "login.intro": "For administrators (Diskominfo) and auditors (Inspektorat).",
        "login.username": "Username",
        "login.password": "Password",
        "login.totp": "Authenticator code",
        "login.totp_hint": "(if your account uses TOTP)",
        "login.submit": "Sign in",
        "login.failed": (
            "Wrong username, password or code, or too many failed attempts from here, so "
            "signing in is held back for a while. Try again later."
        ),
        "error.title": "Cannot be processed",
        "error.title_400": "Invalid request",
        "error.title_403": "Access denied",
        "error.title_404": "Not found",
        "error.title_409": "Conflict",
        "error.title_422": "Invalid input",
        "error.title_503": "Service unavailable",
        "error.back": "Back to the dashboard",
        "error.bad_request": "The form could not be read.",
        "error.csrf": (
            "This form has expired or did not come from the console (CSRF token mismatch). "
            "Reload the page and try again."
        ),
        "error.forbidden_admin": (
            "This page is for auditors only. Administrators cannot read the audit log or "
            "residents' access history."
        ),
        "error.forbidden_auditor": (
            "This page is for administrators only. Auditors cannot change policies or clients."
        ),
        "error.gateway": "The gateway refused the request.",
        "dash.title": "Dashboard",
        "dash.window": "Resident data lookups in the last {days} days.",
        "dash.truncated": "(only the most recent events are counted)",
        "dash.computed": "Counted at {time} UTC, refreshed every minute.",
        "dash.lookups": "lookups",
        "dash.denial_rate": "denial rate",
        "dash.open_alerts": "open alerts",
        "dash.active_policy": "active policy",
        "dash.by_day": "Lookups per day",
        "dash.by_agency": "Lookups per agency",
        "dash.by_purpose": "Lookups per purpose",
        "dash.refused": "refused",
        "decision.allow": "allowed",
        "decision.deny": "denied",
        "decision.error": "error",
        "clients.title": "Agencies and API clients",
        "clients.agencies": "Agencies (from the active policy)",
        "clients.agencies_note": "Agencies, their roles and regions are set in the policy file agencies.yaml.",
        "clients.agency_id": "Code",
        "clients.agency_name": "Name",
        "clients.roles": "Roles",
        "clients.jurisdiction": "Jurisdiction",
        "clients.list": "API clients",
        "clients.client_id": "Client id",
        "clients.name": "System name",
        "clients.agency": "Agency",
        "clients.scopes": "Scopes",
        "clients.status": "Status",
        "clients.actions": "Actions",
        "clients.rotate": "Rotate secret",
        "clients.revoke": "Revoke",
        "clients.create": "Register a new client",
        "clients.create_submit": "Create client",
        "clients.invalid": "Give a name, an agency of the active policy and at least one scope.",
        "clients.revoked": "Client revoked; its tokens no longer work:",
        "clients.revoke_title": "Revoke this client?",
        "clients.revoke_warning": "The system {name} ({agency}) stops receiving data at once: all its tokens stop working, and revocation cannot be undone.",
        "clients.revoke_confirm": "Yes, revoke this client",
        "clients.cancel": "Cancel",
        "secret.title": "Client secret",
        "secret.created": "Client created",
        "secret.rotated": "Client secret rotated",
        "secret.once": (
            "This secret is shown only once. Store it now somewhere safe; satugate keeps only "
            "its hash."
        ),
        "secret.back": "Back to the clients",
        "status.active": "active",
        "status.revoked": "revoked",
        "status.proposed": "proposed",
        "status.superseded": "superseded",
        "status.rejected": "rejected",
        "policies.title": "Policies",
        "policies.active": "Active version:",
        "policies.propose": "Propose a new version",
        "policies.history": "Version history",
        "policies.status": "Status",
        "policies.author": "Proposed by",
        "policies.created": "Created",
        "policies.approved_by": "Approved by",
        "policies.comment": "Comment",
        "policies.view": "View",
        "policy.title": "Policy version",
        "policy.hash": "Content hash",
        "policy.approve": "Approve and activate",
        "policy.approve_hint": "A new version takes effect once a second administrator approves it.",
        "policy.own_proposal": (
            "You proposed this version yourself. Two-person rule: another administrator must "
            "approve it."
        ),
        "policy.two_person": (
            "Refused: you cannot approve your own proposal. Ask another administrator to "
            "review and approve it."
        ),
        "policy.not_proposed": "This version is no longer a proposal; nothing was changed.",
        "policy.approved": "Approved. This version is now active on every gateway.",
        "policy.diff": "Compared with the active version #{active}",
        "policy.no_changes": "No differences from the active version.",
        "policy.active_side": "Active",
        "policy.proposed_side": "This version",
        "policy.skipped": "… {n} unchanged lines …",
        "propose.title": "Propose a policy version",
        "propose.intro": (
            "Edit the files of the active version below, or upload YAML files (replacing "
            "files of the same name). Empty a file to remove it. The proposal is checked, then "
            "waits for another administrator's approval."
        ),
        "propose.upload": "Upload files",
        "propose.upload_hint": "(.yaml, several allowed)",
        "propose.submit": "Submit proposal",
        "propose.invalid": "Proposal refused: the policy bundle is not valid.",
        "sim.title": "Decision simulation",
        "sim.intro": (
            "Ask the policy without touching any data: for example, may social affairs read "
            "religion for social assistance?"
        ),
        "sim.agency": "Agency",
        "sim.purpose": "Purpose",
        "sim.action": "Action",
        "sim.fields": "Fields",
        "sim.fields_hint": "(none: everything allowed)",
        "sim.legal_basis": "Legal basis",
        "sim.bundle": "Policy version",
        "sim.active": "active version",
        "sim.submit": "Ask",
        "sim.allowed": "Allowed",
        "sim.denied": "Denied",
        "sim.field": "Field",
        "sim.treatment": "Treatment",
        "sim.rules": "Rules",
        "sim.subject": "NIK shown as",
        "sim.cap": "Result cap",
        "treatment.clear": "in clear",
        "treatment.mask": "masked",
        "treatment.generalise": "generalised",
        "treatment.pseudonymise": "pseudonymised",
        "treatment.withhold": "withheld",
        "audit.title": "Audit log",
        "audit.intro": "Search who accessed what. Your searches are recorded too.",
        "audit.agency": "Agency",
        "audit.officer": "Officer",
        "audit.purpose": "Purpose",
        "audit.decision": "Decision",
        "audit.action": "Action",
        "audit.from": "From",
        "audit.to": "Until",
        "audit.any": "any",
        "audit.search": "Search",
        "audit.results": "{n} events",
        "audit.none": "No matching events.",
        "audit.next": "Next page",
        "audit.time": "Time",
        "audit.fields": "Fields",
        "audit.count": "Count",
        "audit.bad_nik": "Invalid NIK: it needs 16 digits with a valid region code and birth date.",
        "audit.bad_date": "Dates must be written YYYY-MM-DD.",
        "audit.bad_cursor": "The page marker is not valid; start from the first page.",
        "resident.title": "Resident access report",
        "resident.intro": (
            "Who saw a resident's data (UU PDP Article 32). This lookup is recorded and will "
            "appear in that resident's report."
        ),
        "resident.submit": "Show report",
        "resident.report_for": "Report for NIK {nik}",
        "resident.count": "{n} recorded accesses.",
        "resident.hidden_until": "hidden from the resident until {time}",
        "alerts.title": "Misuse alerts",
        "alerts.intro": "Officers' lookup patterns an auditor should review (last 7 days).",
        "alerts.kind": "Kind",
        "alerts.kind.volume": "unusual volume",
        "alerts.kind.off_hours": "outside office hours",
        "alerts.kind.flagged_subject": "flagged resident",
        "alerts.kind.family_card": "own family",
        "alerts.period": "Period",
        "alerts.detail": "Detail",
        "alerts.evidence": "Evidence (leaf indexes)",
        "alerts.none": "No open alerts.",
        "cp.title": "Checkpoint and verification",
        "cp.intro": (
            "A signed checkpoint commits to the whole audit log. Verifying proves the log only "
            "grew and nothing in it was changed."
        ),
        "cp.tree_size": "events in the log",
        "cp.latest": "Latest checkpoint",
        "cp.verifier_key": "Verifier key",
        "cp.verify": "Verify",
        "cp.saved": "A checkpoint you saved earlier",
        "cp.saved_hint": "(optional; if empty, the checkpoint above is used)",
        "cp.verify_now": "Verify now",
        "cp.witnessed": "Compared with the last checkpoint this browser verified (size {size}).",
        "cp.ok": "The audit log is intact",
        "cp.failed": "Verification FAILED",
    },
}

# The audit log's event pages, exports and investigations.
for _lang, _more in _MORE.items():
    MESSAGES[_lang].update(_more)


def language(request: Request) -> str:
    """The page language: ``?lang=`` first, then the cookie, then Indonesian."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    saved = request.cookies.get(COOKIE)
    return saved if saved in LANGUAGES else DEFAULT


def remember_choice(request: Request, response: Response) -> None:
    """Keep a ``?lang=`` choice in a cookie (not a secret: readable, a year long)."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=365 * 86400, path="/console", samesite="strict")


def has(key: str, lang: str = DEFAULT) -> bool:
    return key in MESSAGES[lang]


def translator(lang: str) -> Callable[[str], str]:
    table = MESSAGES.get(lang, MESSAGES[DEFAULT])

    def t(key: str) -> str:
        return table.get(key, key)

    return t


ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


def short_time(value: object, zone: str | None = None) -> str:
    """``2026-11-28T10:15:00.123Z`` → ``2026-11-28 17:15:00 WIB`` in the city's time zone
    (``zone``; UTC without one); other values unchanged."""
    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if zone is None or moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S ") + ZONE_NAMES.get(zone, local.strftime("%Z"))
