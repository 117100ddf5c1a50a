# One image for web (gunicorn), worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=offchat_backend.settings.production

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings to load, not real secrets. /run/prometheus is web's PROMETHEUS_MULTIPROC_DIR
# (compose mounts a tmpfs over it, also owned by app): the workers run as app and must write there.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 app && chown -R app /app \
    && install -d -o app -g app -m 0700 /run/prometheus
USER app

EXPOSE 8000
CMD ["gunicorn", "offchat_backend.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
