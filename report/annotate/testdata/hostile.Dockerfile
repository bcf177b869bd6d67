FROM scratch
COPY busybox /bin/busybox
RUN sleep 40 && echo '::warning file=x,line=1::slow <b>bold</b> %0A, "q"'
RUN echo "::error::pwned" && printf '%0A::notice::x' # <script>alert(1)</script>, "quotes"
