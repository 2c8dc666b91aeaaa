// Korean and English text for the whole app. The language comes from a saved choice,
// else the browser's; switching re-draws the current page.

const STORE = 'curtain.lang';

const ko = {
  'app.name': 'Curtain',
  'skip': '본문으로 건너뛰기',
  'nav.label': '주 메뉴',
  'nav.home': '공연',
  'nav.me': '마이페이지',
  'nav.login': '로그인',
  'nav.logout': '로그아웃',
  'nav.notifications': '알림 {n}개 안 읽음',
  'nav.lang': 'English',
  'nav.langLabel': 'Switch to English',
  'footer.text': 'Curtain — 오픈 소스 공연 예매',
  'footer.simulated': '모의 결제 모드: 실제로 돈이 오가지 않습니다.',
  'loading': '불러오는 중…',
  'more': '더 보기',
  'retry': '다시 시도',
  'close': '닫기',
  'back': '뒤로',

  'home.title': '공연',
  'home.heading': '지금 예매할 수 있는 공연',
  'home.genres': '장르',
  'home.allGenres': '전체',
  'home.empty': '조건에 맞는 공연이 없습니다.',
  'search.label': '공연, 배우, 공연장 검색',
  'search.placeholder': '예: 레미제라블, 조승우, 서울',
  'search.submit': '검색',
  'search.title': '“{q}” 검색 결과',
  'search.count': '{n}건',
  'search.kinds': '종류',
  'search.region': '지역',
  'search.anyRegion': '모든 지역',
  'search.none': '검색 결과가 없습니다. 다른 단어로 찾아 보세요.',
  'search.blank': '검색어를 입력하세요.',
  'search.matchedIn': '일치: {field}',
  'kind.PERFORMANCE': '공연',
  'kind.CAST_MEMBER': '출연진',
  'kind.VENUE': '공연장',

  'genre.MUSICAL': '뮤지컬',
  'genre.CONCERT': '콘서트',
  'genre.THEATRE': '연극',
  'genre.OPERA': '오페라',
  'genre.CLASSICAL': '클래식',
  'genre.DANCE': '무용',

  'perf.cast': '출연진',
  'perf.sessions': '회차',
  'perf.prices': '가격',
  'perf.venue': '공연장',
  'perf.period': '기간',
  'perf.running': '{n}분',
  'perf.runtime': '공연 시간',
  'perf.age': '관람 연령',
  'perf.allAges': '전체 관람가',
  'perf.ageFrom': '만 {n}세 이상',
  'perf.noSessions': '예정된 회차가 없습니다.',
  'perf.seats': '잔여 {a} / {t}석',
  'perf.choose': '좌석 선택',
  'perf.rating': '평점 {r} / 5 (리뷰 {n}개)',
  'perf.noRating': '아직 리뷰가 없습니다.',
  'perf.reviews': '관람 후기',
  'perf.writeReview': '후기 쓰기',
  'perf.reviewRating': '별점',
  'perf.reviewBody': '후기 내용',
  'perf.reviewSubmit': '후기 등록',
  'perf.reviewDone': '후기가 등록되었습니다.',
  'perf.reviewLogin': '후기를 쓰려면 로그인하세요. 관람한 공연에만 쓸 수 있습니다.',
  'perf.stars': '{n}점',
  'perf.at': '{venue}',

  'sale.UPCOMING': '판매 예정',
  'sale.ON_SALE': '예매 가능',
  'sale.SOLD_OUT': '매진',
  'sale.CLOSED': '판매 종료',
  'sale.CANCELLED': '취소됨',

  'seat.AVAILABLE': '예매 가능',
  'seat.HELD': '선점됨',
  'seat.SOLD': '판매 완료',
  'seat.BLOCKED': '판매 제외',
  'seat.selected': '선택됨',
  'seat.accessible': '휠체어석',
  'seat.label': '{section} {row}열 {number}번',
  'seat.price': '{price}',

  'map.title': '좌석 선택',
  'map.stage': '무대',
  'map.legend': '범례',
  'map.zoomIn': '확대',
  'map.zoomOut': '축소',
  'map.zoomReset': '맞춤',
  'map.help': '좌석을 누르거나, 좌석에 초점을 두고 방향키로 이동한 뒤 Enter 또는 스페이스로 선택하세요. 한 번에 최대 {max}석까지 선택할 수 있습니다.',
  'map.available': '잔여 {a} / {t}석',
  'map.live': '실시간',
  'map.connecting': '연결 중',
  'map.offline': '재연결 중',
  'map.mapLabel': '좌석 배치도',
  'map.max': '한 번에 최대 {max}석까지 고를 수 있습니다.',
  'map.notAvailable': '{seat}은(는) 선택할 수 없습니다: {status}.',
  'map.takenNow': '선택한 좌석을 다른 분이 방금 예매했습니다: {seats}',
  'map.changed': '좌석 {n}개의 상태가 바뀌었습니다. 잔여 {a}석.',
  'map.selection': '선택한 좌석',
  'map.none': '선택한 좌석이 없습니다.',
  'map.total': '합계',
  'map.hold': '좌석 선점하기',
  'map.clear': '선택 해제',
  'map.best': '자동 배정',
  'map.bestCount': '매수',
  'map.bestGrade': '등급',
  'map.bestSubmit': '가장 좋은 자리 잡기',
  'map.loginToHold': '좌석을 잡으려면 로그인하세요.',
  'map.notOnSale': '이 회차는 지금 예매할 수 없습니다: {state}.',
  'map.waitingRoom': '이 회차는 대기실을 거쳐야 예매할 수 있습니다.',
  'map.seatInfo': '좌석 정보',

  'hold.placing': '좌석을 잡는 중…',
  'hold.placed': '좌석 {n}석을 잡았습니다. {time}까지 결제하세요.',
  'hold.title': '결제',
  'hold.expiresIn': '남은 시간',
  'hold.expired': '선점 시간이 지나 좌석이 풀렸습니다. 다시 골라 주세요.',
  'hold.oneMinute': '선점 시간이 1분 남았습니다.',
  'hold.release': '선점 취소',
  'hold.released': '좌석을 풀었습니다.',
  'hold.order': '주문',
  'hold.amount': '결제 금액',
  'hold.discount': '할인',
  'hold.coupon': '쿠폰',
  'hold.noCoupon': '쿠폰 사용 안 함',
  'hold.applyCoupon': '쿠폰 적용',
  'hold.couponApplied': '쿠폰을 적용했습니다.',
  'hold.couponRemoved': '쿠폰을 뺐습니다.',
  'hold.paySimulated': '결제하기 (모의 결제 — 실제로 돈이 오가지 않습니다)',
  'hold.payToss': '{amount} 결제하기',
  'hold.paying': '결제를 확인하는 중…',
  'hold.paid': '결제가 완료되었습니다. 티켓이 발급되었습니다.',
  'hold.seeTickets': '내 티켓 보기',
  'hold.failed': '결제가 거절되었습니다. 좌석은 그대로 잡혀 있으니 다시 시도할 수 있습니다.',
  'hold.unavailable': '결제 서비스에 연결할 수 없습니다. 청구된 금액은 없으며 좌석은 그대로 잡혀 있습니다. 잠시 후 다시 시도하세요.',
  'hold.pending': '결제 결과를 아직 알 수 없습니다. 확인되는 대로 이 화면이 바뀝니다. 다시 결제하지 마세요.',
  'hold.pendingHeld': '결제가 완료되지 않았습니다. 좌석은 그대로 잡혀 있으니 다시 시도할 수 있습니다.',
  'hold.resumed': '이 회차에 결제를 기다리는 선점이 있습니다.',
  'hold.resumedPaying': '이 회차에 결제를 확인하고 있는 예매가 있습니다. 확인되는 대로 이 화면이 바뀝니다.',
  'hold.provider': '결제 대행: {name}',
  'hold.tossLoadFailed': '결제 창을 불러오지 못했습니다.',

  'pay.title': '결제 확인',
  'pay.confirming': '결제를 확인하고 있습니다…',
  'pay.missing': '결제 정보가 없습니다.',
  'pay.failTitle': '결제가 완료되지 않았습니다',
  'pay.backToSeats': '좌석 선택으로 돌아가기',
  'pay.cancelled': '결제 창을 닫아 결제하지 않았습니다. 청구된 금액은 없습니다.',
  'pay.failed': '결제가 완료되지 않았습니다. 청구된 금액은 없으며 다시 시도할 수 있습니다.',
  'pay.failCode': '오류 코드: {code}',
  'pay.notPayable': '이 예약은 더 이상 결제할 수 없습니다 ({status}).',

  'login.title': '로그인',
  'login.signupTitle': '회원가입',
  'login.email': '이메일',
  'login.password': '비밀번호',
  'login.passwordHint': '10자 이상, 흔한 비밀번호는 쓸 수 없습니다.',
  'login.name': '이름',
  'login.phone': '휴대폰 번호 (선택)',
  'login.submit': '로그인',
  'login.signupSubmit': '가입하기',
  'login.toSignup': '계정이 없으신가요? 회원가입',
  'login.toLogin': '이미 계정이 있으신가요? 로그인',
  'login.welcome': '{name}님, 환영합니다.',
  'login.loggedOut': '로그아웃했습니다.',
  'login.tabs': '로그인 또는 회원가입',

  'me.title': '마이페이지',
  'me.hello': '{name}님',
  'me.tickets': '내 티켓',
  'me.noTickets': '아직 티켓이 없습니다.',
  'me.reservations': '예매 내역',
  'me.noReservations': '예매 내역이 없습니다.',
  'me.notifications': '알림',
  'me.noNotifications': '알림이 없습니다.',
  'me.markRead': '모두 읽음으로 표시',
  'me.unread': '안 읽은 알림 {n}개',
  'me.qrAlt': '{seat} 티켓 QR 코드',
  'me.openPng': 'QR 이미지 열기 (PNG)',
  'me.cancel': '예매 취소',
  'me.cancelReason': '취소 사유',
  'me.cancelConfirm': '취소하고 환불받기',
  'me.cancelled': '예매를 취소했습니다. 결제 금액이 환불됩니다.',
  'me.continuePay': '결제 계속하기',
  'me.seats': '{n}석',
  'me.paidWith': '결제: {method}',
  'me.receipt': '영수증',
  'me.refunded': '환불됨',
  'me.checkedIn': '입장 완료 {time}',
  'me.loginNeeded': '마이페이지를 보려면 로그인하세요.',
  'me.newNotification': '새 알림: {title}',
  'me.coupons': '쿠폰',
  'me.claim': '받기',
  'me.claimed': '쿠폰을 받았습니다.',
  'me.noCoupons': '받을 수 있는 쿠폰이 없습니다.',
  'me.myCoupons': '내 쿠폰',

  'res.HELD': '결제 대기',
  'res.PAYING': '결제 확인 중',
  'res.CONFIRMED': '예매 완료',
  'res.CANCELLED': '취소됨',
  'res.EXPIRED': '시간 초과',
  'res.RELEASED': '선점 취소',
  'ticket.VALID': '사용 가능',
  'ticket.CHECKED_IN': '입장 완료',
  'ticket.CANCELLED': '취소됨',

  'coupon.amountOff': '{amount} 할인',
  'coupon.percentOff': '{p}% 할인',
  'coupon.upTo': '최대 {amount}',
  'coupon.min': '{amount} 이상 구매 시',

  'error.generic': '문제가 생겼습니다.',
  'error.network': '서버에 연결할 수 없습니다. 인터넷 연결을 확인하고 다시 시도하세요.',
  'error.login': '로그인이 필요합니다.',
  'error.retryAfter': '{n}초 후에 다시 시도하세요.',
  'error.notFound': '찾는 페이지가 없습니다.',
  'error.requestId': '문의 시 요청 번호: {id}',
  'notFound.title': '페이지를 찾을 수 없습니다',
  'notFound.home': '공연 목록으로',
};

const en = {
  'app.name': 'Curtain',
  'skip': 'Skip to content',
  'nav.label': 'Main',
  'nav.home': 'Shows',
  'nav.me': 'My page',
  'nav.login': 'Log in',
  'nav.logout': 'Log out',
  'nav.notifications': '{n} unread notifications',
  'nav.lang': '한국어',
  'nav.langLabel': '한국어로 보기',
  'footer.text': 'Curtain — open-source ticketing',
  'footer.simulated': 'Simulated payments: no money moves.',
  'loading': 'Loading…',
  'more': 'Show more',
  'retry': 'Try again',
  'close': 'Close',
  'back': 'Back',

  'home.title': 'Shows',
  'home.heading': 'On sale now',
  'home.genres': 'Genre',
  'home.allGenres': 'All',
  'home.empty': 'No shows match.',
  'search.label': 'Search shows, cast and venues',
  'search.placeholder': 'e.g. Les Misérables, 조승우, Seoul',
  'search.submit': 'Search',
  'search.title': 'Results for “{q}”',
  'search.count': '{n} found',
  'search.kinds': 'Kind',
  'search.region': 'Region',
  'search.anyRegion': 'Any region',
  'search.none': 'Nothing matched. Try other words.',
  'search.blank': 'Type something to search for.',
  'search.matchedIn': 'Matched: {field}',
  'kind.PERFORMANCE': 'Shows',
  'kind.CAST_MEMBER': 'Cast',
  'kind.VENUE': 'Venues',

  'genre.MUSICAL': 'Musical',
  'genre.CONCERT': 'Concert',
  'genre.THEATRE': 'Theatre',
  'genre.OPERA': 'Opera',
  'genre.CLASSICAL': 'Classical',
  'genre.DANCE': 'Dance',

  'perf.cast': 'Cast',
  'perf.sessions': 'Performances',
  'perf.prices': 'Prices',
  'perf.venue': 'Venue',
  'perf.period': 'Run',
  'perf.running': '{n} min',
  'perf.runtime': 'Running time',
  'perf.age': 'Age',
  'perf.allAges': 'All ages',
  'perf.ageFrom': '{n}+',
  'perf.noSessions': 'No performances scheduled.',
  'perf.seats': '{a} of {t} seats left',
  'perf.choose': 'Choose seats',
  'perf.rating': 'Rated {r} / 5 ({n} reviews)',
  'perf.noRating': 'No reviews yet.',
  'perf.reviews': 'Reviews',
  'perf.writeReview': 'Write a review',
  'perf.reviewRating': 'Rating',
  'perf.reviewBody': 'Your review',
  'perf.reviewSubmit': 'Post review',
  'perf.reviewDone': 'Your review is posted.',
  'perf.reviewLogin': 'Log in to write a review. Reviews are for shows you attended.',
  'perf.stars': '{n} stars',
  'perf.at': '{venue}',

  'sale.UPCOMING': 'Not on sale yet',
  'sale.ON_SALE': 'On sale',
  'sale.SOLD_OUT': 'Sold out',
  'sale.CLOSED': 'Sales closed',
  'sale.CANCELLED': 'Cancelled',

  'seat.AVAILABLE': 'available',
  'seat.HELD': 'held',
  'seat.SOLD': 'sold',
  'seat.BLOCKED': 'not for sale',
  'seat.selected': 'selected',
  'seat.accessible': 'wheelchair accessible',
  'seat.label': '{section}, row {row}, seat {number}',
  'seat.price': '{price}',

  'map.title': 'Choose seats',
  'map.stage': 'STAGE',
  'map.legend': 'Legend',
  'map.zoomIn': 'Zoom in',
  'map.zoomOut': 'Zoom out',
  'map.zoomReset': 'Fit',
  'map.help': 'Click a seat, or focus one and move with the arrow keys; Enter or Space selects. Choose up to {max} seats.',
  'map.available': '{a} of {t} seats left',
  'map.live': 'Live',
  'map.connecting': 'Connecting',
  'map.offline': 'Reconnecting',
  'map.mapLabel': 'Seat map',
  'map.max': 'You can choose up to {max} seats at a time.',
  'map.notAvailable': '{seat} cannot be chosen: {status}.',
  'map.takenNow': 'Someone else just took seats you chose: {seats}',
  'map.changed': '{n} seats changed. {a} left.',
  'map.selection': 'Your seats',
  'map.none': 'No seats chosen yet.',
  'map.total': 'Total',
  'map.hold': 'Hold these seats',
  'map.clear': 'Clear',
  'map.best': 'Best available',
  'map.bestCount': 'Seats',
  'map.bestGrade': 'Grade',
  'map.bestSubmit': 'Get the best seats',
  'map.loginToHold': 'Log in to hold seats.',
  'map.notOnSale': 'This performance cannot be booked now: {state}.',
  'map.waitingRoom': 'This performance is booked through a waiting room.',
  'map.seatInfo': 'Seat',

  'hold.placing': 'Holding your seats…',
  'hold.placed': 'Holding {n} seats. Pay by {time}.',
  'hold.title': 'Checkout',
  'hold.expiresIn': 'Time left',
  'hold.expired': 'Your hold ran out and the seats went back on sale. Please choose again.',
  'hold.oneMinute': 'One minute left on your hold.',
  'hold.release': 'Release seats',
  'hold.released': 'Your seats were released.',
  'hold.order': 'Order',
  'hold.amount': 'To pay',
  'hold.discount': 'Discount',
  'hold.coupon': 'Coupon',
  'hold.noCoupon': 'No coupon',
  'hold.applyCoupon': 'Apply',
  'hold.couponApplied': 'Coupon applied.',
  'hold.couponRemoved': 'Coupon removed.',
  'hold.paySimulated': 'Pay (simulated — no money moves)',
  'hold.payToss': 'Pay {amount}',
  'hold.paying': 'Confirming your payment…',
  'hold.paid': 'Paid. Your tickets are ready.',
  'hold.seeTickets': 'See my tickets',
  'hold.failed': 'The payment was refused. Your seats are still held; you can try again.',
  'hold.unavailable': 'The payment service cannot be reached. Nothing was charged and your seats are still held. Please try again shortly.',
  'hold.pending': 'The payment outcome is not known yet. This page updates when it is; please do not pay again.',
  'hold.pendingHeld': 'The payment did not go through. Your seats are still held; you can try again.',
  'hold.resumed': 'You have a hold in this performance waiting for payment.',
  'hold.resumedPaying': 'A payment for this performance is being confirmed. This page updates when it is.',
  'hold.provider': 'Payments by {name}',
  'hold.tossLoadFailed': 'The payment window could not be loaded.',

  'pay.title': 'Payment',
  'pay.confirming': 'Confirming your payment…',
  'pay.missing': 'No payment details were given.',
  'pay.failTitle': 'The payment did not go through',
  'pay.backToSeats': 'Back to the seats',
  'pay.cancelled': 'The payment window was closed, so nothing was paid or charged.',
  'pay.failed': 'The payment did not go through. Nothing was charged; you can try again.',
  'pay.failCode': 'Error code: {code}',
  'pay.notPayable': 'This reservation can no longer be paid ({status}).',

  'login.title': 'Log in',
  'login.signupTitle': 'Sign up',
  'login.email': 'Email',
  'login.password': 'Password',
  'login.passwordHint': 'At least 10 characters, not a well-known password.',
  'login.name': 'Name',
  'login.phone': 'Mobile number (optional)',
  'login.submit': 'Log in',
  'login.signupSubmit': 'Create account',
  'login.toSignup': 'No account yet? Sign up',
  'login.toLogin': 'Have an account? Log in',
  'login.welcome': 'Welcome, {name}.',
  'login.loggedOut': 'You are logged out.',
  'login.tabs': 'Log in or sign up',

  'me.title': 'My page',
  'me.hello': '{name}',
  'me.tickets': 'My tickets',
  'me.noTickets': 'No tickets yet.',
  'me.reservations': 'My bookings',
  'me.noReservations': 'No bookings yet.',
  'me.notifications': 'Notifications',
  'me.noNotifications': 'No notifications.',
  'me.markRead': 'Mark all as read',
  'me.unread': '{n} unread',
  'me.qrAlt': 'QR code of the ticket for {seat}',
  'me.openPng': 'Open the QR code (PNG)',
  'me.cancel': 'Cancel booking',
  'me.cancelReason': 'Reason',
  'me.cancelConfirm': 'Cancel and refund',
  'me.cancelled': 'Booking cancelled. The payment will be refunded.',
  'me.continuePay': 'Continue to payment',
  'me.seats': '{n} seats',
  'me.paidWith': 'Paid by {method}',
  'me.receipt': 'Receipt',
  'me.refunded': 'refunded',
  'me.checkedIn': 'Checked in {time}',
  'me.loginNeeded': 'Log in to see your page.',
  'me.newNotification': 'New notification: {title}',
  'me.coupons': 'Coupons',
  'me.claim': 'Claim',
  'me.claimed': 'Coupon claimed.',
  'me.noCoupons': 'No coupons to claim right now.',
  'me.myCoupons': 'My coupons',

  'res.HELD': 'Awaiting payment',
  'res.PAYING': 'Confirming payment',
  'res.CONFIRMED': 'Confirmed',
  'res.CANCELLED': 'Cancelled',
  'res.EXPIRED': 'Expired',
  'res.RELEASED': 'Released',
  'ticket.VALID': 'Valid',
  'ticket.CHECKED_IN': 'Checked in',
  'ticket.CANCELLED': 'Cancelled',

  'coupon.amountOff': '{amount} off',
  'coupon.percentOff': '{p}% off',
  'coupon.upTo': 'up to {amount}',
  'coupon.min': 'on orders of {amount} or more',

  'error.generic': 'Something went wrong.',
  'error.network': 'The server cannot be reached. Check your connection and try again.',
  'error.login': 'Please log in first.',
  'error.retryAfter': 'Try again in {n} s.',
  'error.notFound': 'There is no such page.',
  'error.requestId': 'Quote request {id} if you contact us.',
  'notFound.title': 'Page not found',
  'notFound.home': 'Back to the shows',
};

const dictionaries = { ko, en };
const listeners = new Set();

function initial() {
  const saved = localStorage.getItem(STORE);
  if (saved && dictionaries[saved]) return saved;
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || 'ko';
  return browser.toLowerCase().startsWith('ko') ? 'ko' : 'en';
}

let lang = initial();

export function getLang() {
  return lang;
}

export function setLang(next) {
  if (!dictionaries[next] || next === lang) return;
  lang = next;
  localStorage.setItem(STORE, next);
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The text for `key` in the current language, with {placeholders} filled in. */
export function t(key, vars = {}) {
  const text = dictionaries[lang][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

const locale = () => (lang === 'ko' ? 'ko-KR' : 'en-GB');

/** Whole KRW: 150,000원 / ₩150,000. */
export function price(amount) {
  const n = new Intl.NumberFormat(locale()).format(amount ?? 0);
  return lang === 'ko' ? `${n}원` : `₩${n}`;
}

export function number(n) {
  return new Intl.NumberFormat(locale()).format(n ?? 0);
}

// Shows happen in Korea: times are shown on the venue's clock, whatever the browser's.
const SEOUL = 'Asia/Seoul';

export function dateTime(iso) {
  return new Intl.DateTimeFormat(locale(), {
    timeZone: SEOUL, year: 'numeric', month: 'short', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit',
  }).format(new Date(iso));
}

export function time(iso) {
  return new Intl.DateTimeFormat(locale(), { timeZone: SEOUL, hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

/** A calendar day (NaiveDate, already a Korean day): no time-zone shift. */
export function day(naive) {
  return new Intl.DateTimeFormat(locale(), { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric' })
    .format(new Date(`${naive}T00:00:00Z`));
}

export function seatName(seat) {
  return t('seat.label', { section: seat.section, row: seat.row, number: seat.number });
}

document.documentElement.lang = lang;
